"""Human feedback as training data: preference pairs (DPO/RLHF) and supervised examples (SFT).

A record's *rating* is the mean value of its thumbs and score feedback (thumbs up 1, thumbs
down -1, scores as given; comments do not count). Use one scale per deployment — mixing thumbs
with 1-to-5 scores makes ratings incomparable.

**Preference pairs** come from answers to the *same* prompt (byte-identical prompt, across
users, sessions and model versions) that were rated differently: the better-rated answer is
``chosen``, the worse ``rejected``. Rows follow the format TRL's ``DPOTrainer`` reads:

- text prompts: ``{"prompt": "...", "chosen": "...", "rejected": "..."}``
- chat prompts: ``{"prompt": [messages], "chosen": [{"role": "assistant", "content": "..."}],
  "rejected": [{"role": "assistant", "content": "..."}]}``

**Supervised examples** are the answers rated above ``min_rating``, in TRL's prompt-completion
format (``{"prompt": ..., "completion": ...}``, conversational for chat prompts).

Both take a :class:`RecordFilter` (model version, tag, date range...) and stream, so they work
on stores larger than memory. ``include_ids=True`` adds a ``"meta"`` object with record ids and
ratings, for tracing a training example back to the logged call.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import RecordFilter, StoredRecord
from pellucid.monitor.repository import Repository


def _answer(record: StoredRecord) -> Any:
    """The response in the shape that matches the prompt: text, or one assistant message."""
    if isinstance(record.prompt, list):
        return [{"role": "assistant", "content": record.response}]
    return record.response


def preference_pairs(
    repo: Repository,
    filter: RecordFilter | None = None,
    *,
    margin: float = 0.0,
    max_pairs_per_prompt: int | None = None,
    include_ids: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield ``prompt / chosen / rejected`` rows (see the module docstring).

    Args:
        margin: the chosen rating must exceed the rejected one by more than this.
        max_pairs_per_prompt: keep only the pairs with the largest rating gaps per prompt.
        include_ids: add ``meta`` with both record ids and ratings.
    """
    if margin < 0:
        raise InvalidInputError(f"margin must be 0 or more, got {margin}.")
    if max_pairs_per_prompt is not None and max_pairs_per_prompt < 1:
        raise InvalidInputError(f"max_pairs_per_prompt must be at least 1, got {max_pairs_per_prompt}.")
    rated = ((r, rating) for r, rating, _ in repo.iter_rated(filter) if r.response is not None and r.error is None)
    for _, group in itertools.groupby(rated, key=lambda item: item[0].prompt_hash):
        answers = sorted(group, key=lambda item: -item[1])
        pairs = [
            (good, bad)
            for i, good in enumerate(answers)
            for bad in answers[i + 1 :]
            if good[1] - bad[1] > margin and good[0].response != bad[0].response
        ]
        pairs.sort(key=lambda pair: pair[1][1] - pair[0][1])  # largest gap first (stable otherwise)
        for (chosen, chosen_rating), (rejected, rejected_rating) in pairs[:max_pairs_per_prompt]:
            row: dict[str, Any] = {"prompt": chosen.prompt, "chosen": _answer(chosen), "rejected": _answer(rejected)}
            if include_ids:
                row["meta"] = {
                    "chosen_id": chosen.id,
                    "rejected_id": rejected.id,
                    "chosen_rating": chosen_rating,
                    "rejected_rating": rejected_rating,
                    "chosen_model_version": chosen.model_version,
                    "rejected_model_version": rejected.model_version,
                }
            yield row


def supervised_examples(
    repo: Repository, filter: RecordFilter | None = None, *, min_rating: float = 0.0, include_ids: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield ``prompt / completion`` rows for answers rated strictly above ``min_rating``."""
    for record, rating, count in repo.iter_rated(filter):
        if rating <= min_rating or record.response is None or record.error is not None:
            continue
        row: dict[str, Any] = {"prompt": record.prompt, "completion": _answer(record)}
        if include_ids:
            row["meta"] = {"id": record.id, "rating": rating, "ratings": count, "model_version": record.model_version}
        yield row


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write one JSON object per line (UTF-8, not ASCII-escaped); returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def export_preferences(repo: Repository, path: str | Path, filter: RecordFilter | None = None, **options: Any) -> int:
    """:func:`preference_pairs` written to ``path`` as JSONL; returns the number of pairs."""
    return write_jsonl(preference_pairs(repo, filter, **options), path)


def export_supervised(repo: Repository, path: str | Path, filter: RecordFilter | None = None, **options: Any) -> int:
    """:func:`supervised_examples` written to ``path`` as JSONL; returns the number of examples."""
    return write_jsonl(supervised_examples(repo, filter, **options), path)
