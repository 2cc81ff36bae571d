"""Prompt files for data-set runs: JSONL, CSV or TSV records turned into prompts and targets.

A record either carries its ``prompt`` (and optionally a ``target``), or a text field
(``text``, ``content``, ``sentence``, ``review``) that is put into a template — by default a
sentiment question — with its ``label`` (0/1, negative/positive) as the target. SST-2's
``dev.tsv`` reads as is. Used by ``pellucid faithfulness`` and ``pellucid explain --data``;
:mod:`pellucid.attribution.faithfulness` re-exports :func:`load_prompts` and :class:`PromptSet`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError

SENTIMENT_TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer:"
SENTIMENT_TARGETS = {"0": " negative", "1": " positive", "negative": " negative", "positive": " positive"}


@dataclass(frozen=True)
class PromptSet:
    """Prompts read from a file, with their targets (``None``: explain the model's answer)."""

    prompts: list[str]
    targets: list[str | None]
    skipped: int = 0


_TEXT_KEYS = ("text", "content", "sentence", "review")


def load_prompts(path: str | Path, *, template: str | None = None, limit: int | None = None) -> PromptSet:
    """Read prompts from a JSONL, CSV or TSV file (with a header line).

    A record with a ``prompt`` field is used as is (``target`` optional). A record with a
    ``text``/``content``/``sentence``/``review`` field is put into ``template`` (default: the
    sentiment template ``"Review: {text}\\nIs this review positive or negative? Answer:"``) and its
    ``label`` (0/1 or negative/positive) gives the target ``" negative"``/``" positive"``. Records
    with empty text are skipped and counted. SST-2's ``dev.tsv`` (``label<TAB>content``) works as is.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Prompt file {str(path)!r} does not exist; give a .jsonl, .csv or .tsv file.")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".tsv"):
        raise InvalidInputError(f"Prompt file {path.name!r} must end in .jsonl, .csv or .tsv.")
    template = template or SENTIMENT_TEMPLATE
    if "{text}" not in template:
        raise InvalidInputError(f"The template {template!r} must contain {{text}} where the record's text goes.")
    prompts: list[str] = []
    targets: list[str | None] = []
    skipped = 0
    for number, record in enumerate(_records(path, suffix), start=2 if suffix != ".jsonl" else 1):
        if limit is not None and len(prompts) >= limit:
            break
        record = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
        if "prompt" in record:
            text, target = str(record["prompt"] or ""), record.get("target") or None
        else:
            key = next((k for k in _TEXT_KEYS if k in record), None)
            if key is None:
                raise InvalidInputError(
                    f"{path.name} line {number} has no prompt/text/content/sentence field (fields: {sorted(record)})."
                )
            text = str(record[key] or "")
            label = str(record.get("label", "")).strip().lower()
            target = record.get("target") or SENTIMENT_TARGETS.get(label)
            text = template.format(text=text.strip()) if text.strip() else ""
        if not text.strip():
            skipped += 1
            continue
        prompts.append(text)
        targets.append(None if target is None else str(target))
    return PromptSet(prompts=prompts, targets=targets, skipped=skipped)


def _records(path: Path, suffix: str) -> Any:
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix == ".jsonl":
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InvalidInputError(f"{path.name} line {number} is not valid JSON: {exc.msg}.") from None
        else:
            tsv = suffix == ".tsv"
            yield from csv.DictReader(
                handle, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
            )
