"""Reading evaluation data sets: JSONL, CSV or TSV with a prompt, a reference and maybe a prediction.

Columns (JSONL keys or CSV/TSV header names):

- ``prompt`` (required): text, or in JSONL a list of chat messages
  ``[{"role": "user", "content": "..."}]``;
- ``reference`` (required; ``references`` also accepted): the expected answer, or in JSONL a list
  of acceptable answers;
- ``prediction`` (optional; ``response`` also accepted): the answer to score. When absent, the
  model generates it.

A line that cannot be used (not JSON, a missing or empty field, a wrong type) does not stop the
run: it is recorded in :attr:`EvalDataset.skipped` with its line number and the reason, and the
rest is evaluated.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_PREDICTION_KEYS = ("prediction", "response")
_REFERENCE_KEYS = ("reference", "references")


@dataclass(frozen=True)
class EvalItem:
    """One usable example: where it came from (1-based ``line``) and its fields."""

    line: int
    prompt: str | list[dict[str, Any]]
    reference: str | list[str]
    prediction: str | None = None


@dataclass(frozen=True)
class SkippedLine:
    """A line that was not evaluated, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class EvalDataset:
    """The usable examples of a file and the lines skipped."""

    path: str
    items: list[EvalItem] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)

    @property
    def has_predictions(self) -> bool:
        """True when every example brings its own prediction (no generation needed)."""
        return bool(self.items) and all(i.prediction is not None for i in self.items)


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _item(row: Any, line: int, *, allow_lists: bool) -> EvalItem:
    """Validate one row; raises ``ValueError`` with the reason."""
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with prompt and reference, got {type(row).__name__}")
    prompt = row.get("prompt")
    if isinstance(prompt, list) and allow_lists:
        if not prompt or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in prompt):
            raise ValueError("prompt is a list but not of chat messages like {'role': 'user', 'content': '...'}")
    elif not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("missing or empty 'prompt'")
    reference = _first(row, _REFERENCE_KEYS)
    if isinstance(reference, list) and allow_lists:
        if not reference or not all(isinstance(r, str) for r in reference):
            raise ValueError("'reference' is a list but not a non-empty list of strings")
    elif not isinstance(reference, str) or not reference.strip():
        raise ValueError("missing or empty 'reference'")
    prediction = _first(row, _PREDICTION_KEYS)
    if prediction is not None and not isinstance(prediction, str):
        raise ValueError(f"'prediction' must be text, got {type(prediction).__name__}")
    if prediction == "" and not allow_lists:  # an empty CSV cell means "no prediction"
        prediction = None
    return EvalItem(line=line, prompt=prompt, reference=reference, prediction=prediction)


def read_dataset(path: str | Path, *, format: str | None = None) -> EvalDataset:
    """Read ``path`` (format from the extension unless ``format`` is ``jsonl``, ``csv`` or ``tsv``)."""
    path = Path(path)
    kind = format or FORMATS.get(path.suffix.lower())
    if kind not in ("jsonl", "csv", "tsv"):
        raise InvalidInputError(
            f"Cannot tell the format of {str(path)!r}: use a .jsonl, .csv or .tsv file (or pass format=jsonl|csv|tsv)."
        )
    if not path.is_file():
        raise InvalidInputError(f"Evaluation data {str(path)!r} does not exist or is not a file.")
    data = EvalDataset(path=str(path))
    with path.open(encoding="utf-8", newline="" if kind != "jsonl" else None, errors="replace") as handle:
        if kind == "jsonl":
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data.items.append(_item(json.loads(text), number, allow_lists=True))
                except json.JSONDecodeError as exc:
                    data.skipped.append(SkippedLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                except ValueError as exc:
                    data.skipped.append(SkippedLine(number, str(exc)))
        else:
            reader = csv.DictReader(handle, delimiter="," if kind == "csv" else "\t")
            missing = {"prompt"} - set(reader.fieldnames or ())
            if missing or not set(_REFERENCE_KEYS) & set(reader.fieldnames or ()):
                raise InvalidInputError(
                    f"{str(path)!r} needs a header with 'prompt' and 'reference' columns (optional 'prediction'); "
                    f"found {reader.fieldnames}."
                )
            for row in reader:
                try:
                    if None in row:  # more cells than header names
                        raise ValueError(
                            f"{len(row[None]) + len(reader.fieldnames or ())} cells but the header has "  # type: ignore[index]
                            f"{len(reader.fieldnames or ())} columns"
                        )
                    data.items.append(_item(row, reader.line_num, allow_lists=False))
                except ValueError as exc:
                    data.skipped.append(SkippedLine(reader.line_num, str(exc)))
    if not data.items:
        reasons = "; ".join(str(s) for s in data.skipped[:3])
        raise InvalidInputError(f"No usable examples in {str(path)!r}{': ' + reasons if reasons else ' (empty file)'}.")
    return data
