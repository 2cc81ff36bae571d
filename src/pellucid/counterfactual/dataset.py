"""Reading a robustness data set: a TSV/CSV/JSONL file of texts, with optional labels.

Every problem is reported with the value, what is allowed and the fix: a missing column is
named (with the columns the file has), a label outside the answer options is shown with the
options, and empty texts are skipped and counted rather than crashing the run.

Labels may be the index of an answer option (SST-2's ``0``/``1`` with options
``" negative", " positive"``) or the option's text (compared without surrounding spaces and case).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError


@dataclass(frozen=True)
class Example:
    """One row: its number in the file (1-based, header excluded), the text and the label."""

    row: int
    text: str
    label: int | str | None = None


@dataclass(frozen=True)
class Dataset:
    examples: list[Example]
    columns: list[str]
    skipped_empty: int
    path: str


def read_rows(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a ``.jsonl``, ``.csv`` or ``.tsv`` file (with a header line) and their column names."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{path}: line {i} is not JSON ({exc}); each line must be one JSON object."
                ) from None
            if not isinstance(item, dict):
                raise InvalidInputError(f"{path}: line {i} is {type(item).__name__}; each line must be a JSON object.")
            rows.append(item)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return rows, columns
    if suffix not in (".tsv", ".csv", ".txt"):
        raise InvalidInputError(f"Data file {str(path)!r} has suffix {suffix!r}; use .tsv, .csv or .jsonl.")
    delimiter = "," if suffix == ".csv" else "\t"
    reader = csv.DictReader(
        text.splitlines(), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if suffix == ".csv" else csv.QUOTE_NONE
    )
    return list(reader), list(reader.fieldnames or [])


def load_dataset(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    limit: int | None = None,
) -> Dataset:
    """Examples from ``path``; ``label_column=None`` (or a missing default ``label``) means no labels."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"Data file {str(p)!r} does not exist; give the path of a .tsv, .csv or .jsonl file.")
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit {limit}; it must be at least 1.")
    rows, columns = read_rows(p)

    if text_column not in columns:
        raise InvalidInputError(
            f"Data file {p.name} has no column {text_column!r} (its columns: {', '.join(columns) or 'none'}); "
            f"pass --text-column with one of them."
        )
    if label_column and label_column not in columns:
        if label_column != "label":
            raise InvalidInputError(
                f"Data file {p.name} has no column {label_column!r} (its columns: {', '.join(columns)}); "
                f"pass --label-column with one of them, or --no-labels."
            )
        label_column = None  # the default label column is optional

    examples: list[Example] = []
    skipped = 0
    for i, row in enumerate(rows, 1):
        text = row.get(text_column)
        if text is None or not str(text).strip():
            skipped += 1
            continue
        label = row.get(label_column) if label_column else None
        examples.append(Example(i, str(text), None if label is None or str(label).strip() == "" else label))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise InvalidInputError(
            f"Data file {p.name} has no non-empty {text_column!r} values ({skipped} empty rows skipped)."
        )
    return Dataset(examples, columns, skipped, str(p))


def resolve_label(value: Any, options: Sequence[str], row: int) -> int:
    """The index of the answer option a label names (an index, or the option's text)."""
    text = str(value).strip()
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(options):
        return int(text)
    folded = [o.strip().lower() for o in options]
    if text.lower() in folded:
        return folded.index(text.lower())
    raise InvalidInputError(
        f"Row {row}: label {value!r} is not one of the answer options {list(options)} "
        f"(nor an index 0..{len(options) - 1}); fix the label or pass --options that include it."
    )
