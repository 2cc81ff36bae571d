"""The data-set view's verbs: a file's examples a page at a time, the model run over some of
them, and the attribution of many rows aggregated into one ranking of words.

**Examples.** A file is read as ``pellucid explain --dataset`` reads it
(:func:`pellucid.attribution.prompt_files.load_prompts`: JSONL, CSV or TSV whose records carry a
``prompt`` or a text field put into a template, with its label as the target). The parsed file is
kept on a :class:`DatasetShelf` (by a hash of its bytes and the template), so paging a large file
reads it once; the workbench opens a file by path or uploads its text.

**Running.** Each chosen example is answered greedily and, when it has a target, the target is
scored after the prompt (teacher-forced log-probability). Per example: the answer, its length and
mean token log-probability, the target's log-probability and probability, and flags — the data-
quality flags the monitor puts on logged calls, plus ``answer_differs_from_target`` when the
answer does not begin with the target's words.

**Aggregate attribution.** Which words drive the target across a slice: for every row, each
input label's attribution is summed over the target positions (NaN, "not computed", left out)
and over the label's occurrences in that row; a word's aggregate is the mean of those per-row
sums over the rows that contain it. Labels are compared stripped and case-folded. So the
aggregate of one row is that row's attribution, and of the same row twice is the same.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pellucid.attribution.prompt_files import PromptSet, load_prompts
from pellucid.errors import InvalidInputError
from pellucid.types import Explanation

#: The most rows one page of the data-set view holds.
MAX_PAGE = 500


@dataclass(frozen=True)
class Example:
    """One row of a data-set file: its 1-based row number, the prompt and the target (or None)."""

    row: int
    prompt: str
    target: str | None


@dataclass(frozen=True)
class ExamplePage:
    """A page of a data set's examples, with how many there are in all."""

    id: str
    name: str
    total: int
    skipped: int
    template: str | None
    offset: int
    examples: list[Example]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "examples": [asdict(e) for e in self.examples]}


class DatasetShelf:
    """Parsed data sets by id, the ``size`` most recently opened kept (thread-safe).

    The id is a hash of the file's bytes and the template, so opening the same file again (or
    uploading the same bytes) finds the parsed rows, and paging a large file reads it once.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._sets: OrderedDict[str, tuple[str, PromptSet]] = OrderedDict()
        self._lock = threading.Lock()

    def open_file(self, path: str | Path, *, template: str | None = None) -> str:
        """Parse the file at ``path``; returns its id. Refuses a missing file by name."""
        file = Path(path).expanduser()
        if not file.is_file():
            raise InvalidInputError(f"No data-set file at {str(file)!r}; give the path of a .jsonl, .csv or .tsv file.")
        return self._add(file.name, file.read_bytes(), template, lambda: load_prompts(file, template=template))

    def open_text(self, name: str, text: str, *, template: str | None = None) -> str:
        """Parse an uploaded file's ``text`` (``name``'s suffix says the format); returns its id."""
        suffix = Path(name).suffix.lower()
        if suffix not in (".jsonl", ".csv", ".tsv"):
            raise InvalidInputError(f"Data-set file {name!r} must end in .jsonl, .csv or .tsv.")

        def parse() -> PromptSet:
            with tempfile.TemporaryDirectory() as folder:
                copy = Path(folder) / Path(name).name
                copy.write_text(text, encoding="utf-8")
                return load_prompts(copy, template=template)

        return self._add(Path(name).name, text.encode("utf-8"), template, parse)

    def _add(self, name: str, data: bytes, template: str | None, parse: Callable[[], PromptSet]) -> str:
        key = hashlib.sha256(data + b"\0" + (template or "").encode()).hexdigest()[:16]
        with self._lock:
            if key in self._sets:
                self._sets.move_to_end(key)
                return key
        parsed = (name, parse())  # outside the lock: parsing a large file takes time
        with self._lock:
            self._sets[key] = parsed
            while len(self._sets) > self._size:
                self._sets.popitem(last=False)
        return key

    def page(self, key: str, *, offset: int = 0, limit: int = 100) -> ExamplePage:
        """Examples ``offset`` to ``offset + limit`` of data set ``key``."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}.")
        if offset < 0:
            raise InvalidInputError(f"offset must be 0 or more, got {offset}.")
        with self._lock:
            if key not in self._sets:
                raise InvalidInputError(
                    f"No open data set {key!r} (only the last {self._size} are kept); open the file again."
                )
            name, data = self._sets[key]
        chosen = range(offset, min(offset + limit, len(data.prompts)))
        examples = [Example(data.rows[i], data.prompts[i], data.targets[i]) for i in chosen]
        return ExamplePage(key, name, len(data.prompts), data.skipped, data.template, offset, examples)


def dataset_page(path: str | Path, *, template: str | None = None, offset: int = 0, limit: int = 100) -> ExamplePage:
    """Examples ``offset`` to ``offset + limit`` of the file at ``path`` (a shelf of its own).

    Raises :class:`InvalidInputError` naming the problem: a path that is not a file, a suffix
    other than .jsonl/.csv/.tsv, or a record without a prompt or text field (with the fields it has).
    """
    shelf = DatasetShelf(1)
    return shelf.page(shelf.open_file(path, template=template or None), offset=offset, limit=limit)


@dataclass(frozen=True)
class ExampleRun:
    """The model on one example: its answer, per-example metrics and flags (name → reason)."""

    prompt: str
    target: str | None
    answer: str
    metrics: dict[str, float | None]
    flags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def run_example(lm: Any, prompt: str, target: str | None, *, max_new_tokens: int = 16, raw: bool = False) -> ExampleRun:
    """Answer ``prompt`` greedily and score ``target`` after it (see the module docstring);
    ``raw``: the prompt as plain text, not in the model's chat template."""
    from pellucid import service
    from pellucid.monitor.quality import quality_flags

    answer = service.generate(lm, prompt, raw=raw, max_new_tokens=max_new_tokens, temperature=0.0)
    logprobs = [lp for lp in answer.logprobs if math.isfinite(lp)]
    metrics: dict[str, float | None] = {
        "answer_tokens": float(len(answer.token_ids)),
        "answer_mean_logprob": float(np.mean(logprobs)) if logprobs else None,
        "target_logprob": None,
        "target_prob": None,
    }
    flags, _ = quality_flags(prompt, answer.text)
    if target is not None:
        total = service.score(lm, prompt, target, raw=raw).total
        metrics["target_logprob"] = _finite(total)
        metrics["target_prob"] = _finite(math.exp(total))
        if not answer.text.strip().casefold().startswith(target.strip().casefold()):
            flags["answer_differs_from_target"] = f"the answer does not begin with {target.strip()!r}"
    return ExampleRun(prompt, target, answer.text, metrics, flags)


def run_examples(
    lm: Any,
    examples: Sequence[tuple[str, str | None]],
    *,
    max_new_tokens: int = 16,
    raw: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExampleRun]:
    """:func:`run_example` on each ``(prompt, target)``, reporting ``progress(done, total)``."""
    out: list[ExampleRun] = []
    for prompt, target in examples:
        out.append(run_example(lm, prompt, target, max_new_tokens=max_new_tokens, raw=raw))
        if progress is not None:
            progress(len(out), len(examples))
    return out


@dataclass(frozen=True)
class WordWeight:
    """A word's aggregate attribution over a slice: the mean per-row sum, in how many rows it occurs."""

    word: str
    mean: float
    rows: int
    occurrences: int


def _row_sums(ex: Explanation) -> dict[str, tuple[str, float, int]]:
    """One explanation's attribution per word (key → shown form, sum, occurrences)."""
    if not ex.axes or ex.axes[-1] != "input":
        raise InvalidInputError(
            f"Only attributions over the input can be aggregated; this {ex.method!r} result has axes {ex.axes}."
        )
    per_label = ex.scores.reshape(-1, ex.scores.shape[-1])
    sums: dict[str, tuple[str, float, int]] = {}
    for j, label in enumerate(ex.labels["input"]):
        column = per_label[:, j]
        word = label.strip()
        if not word or np.isnan(column).all():
            continue
        shown, total, count = sums.get(word.casefold(), (word, 0.0, 0))
        sums[word.casefold()] = (shown, total + float(np.nansum(column)), count + 1)
    return sums


def aggregate_attribution(explanations: Sequence[Explanation], *, top: int | None = None) -> list[WordWeight]:
    """Words ranked by the magnitude of their mean attribution across ``explanations``."""
    if not explanations:
        raise InvalidInputError("Nothing to aggregate: explain at least one row first.")
    totals: dict[str, list[Any]] = {}
    for ex in explanations:
        for key, (shown, value, count) in _row_sums(ex).items():
            entry = totals.setdefault(key, [shown, 0.0, 0, 0])
            entry[1] += value
            entry[2] += 1
            entry[3] += count
    words = [WordWeight(shown, total / rows, rows, occ) for shown, total, rows, occ in totals.values()]
    words.sort(key=lambda w: (-abs(w.mean), w.word))
    return words if top is None else words[:top]
