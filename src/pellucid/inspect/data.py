"""Labelled text for probing (and plain text for neuron search), read from common formats.

- ``.conllu`` (Universal Dependencies): one item per sentence, one label per word — the
  UPOS tag by default (``label_column="xpos"`` for the Penn tag). Words are located in the
  sentence's ``# text`` line so their character spans are exact.
- ``.tsv`` / ``.csv``: one item per row, with a text and a label column (SST-2's
  ``label<TAB>content`` works as is); columns are found by name (``text``, ``sentence``,
  ``content``... and ``label``) unless given.
- ``.jsonl``: one JSON object per line, same column rules.
- ``.txt``: one text per line, no labels.

Everything is plain Python data: no torch here.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from pellucid.errors import InvalidInputError

TEXT_COLUMNS = ("text", "sentence", "content", "review", "prompt", "input")
LABEL_COLUMNS = ("label", "labels", "class", "target", "sentiment", "category")
FORMATS = (".conllu", ".tsv", ".csv", ".jsonl", ".txt")


@dataclass(frozen=True)
class LabelledData:
    """Texts with either one label each (``level="sentence"``) or one label per word (``"token"``).

    For token level, ``spans[i]`` are the words' ``(start, end)`` character spans in
    ``texts[i]`` and ``labels[i]`` their labels; ``words[i]`` their surface forms (the
    control task of Hewitt & Liang assigns labels per word type).
    """

    texts: list[str]
    labels: list[str] | list[list[str]]
    level: str
    source: str = ""
    spans: list[list[tuple[int, int]]] = field(default_factory=list)
    words: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def flat_labels(self) -> list[str]:
        """Every label in item order (words in order for token level)."""
        if self.level == "token":
            return [label for item in self.labels for label in item]  # type: ignore[union-attr]
        return [str(label) for label in self.labels]


def _conllu(path: Path, label_column: str | None, limit: int | None) -> LabelledData:
    column = {"upos": 3, "xpos": 4, "deprel": 7}.get((label_column or "upos").lower())
    if column is None:
        raise InvalidInputError(f"label_column={label_column!r} for CoNLL-U; use upos, xpos or deprel.")
    texts, labels, spans, words = [], [], [], []
    text, rows = None, []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("# text = "):
            text = line[len("# text = ") :]
        elif line and not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                rows.append((cols[1], cols[column]))
        elif not line and rows:
            sentence = text or " ".join(w for w, _ in rows)
            found, tags, forms = _locate_words(sentence, rows)
            if found:
                texts.append(sentence)
                spans.append(found)
                labels.append(tags)
                words.append(forms)
            text, rows = None, []
            if limit and len(texts) >= limit:
                break
    return LabelledData(texts, labels, "token", str(path), spans, words)


def _locate_words(text: str, rows: list[tuple[str, str]]) -> tuple[list[tuple[int, int]], list[str], list[str]]:
    """Character span of each word, searched left to right; words not found are dropped."""
    spans, labels, forms = [], [], []
    cursor = 0
    for form, label in rows:
        start = text.find(form, cursor)
        if start < 0 or start - cursor > 40:
            continue
        spans.append((start, start + len(form)))
        labels.append(label)
        forms.append(form)
        cursor = start + len(form)
    return spans, labels, forms


def _columns(
    header: list[str], text_column: str | None, label_column: str | None, path: Path
) -> tuple[str, str | None]:
    lower = {h.lower(): h for h in header}

    def pick(given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
        if given is not None:
            if given not in header:
                raise InvalidInputError(f"{path.name} has no column {given!r}; columns: {header}.")
            return given
        return next((lower[c] for c in candidates if c in lower), None)

    text = pick(text_column, TEXT_COLUMNS, "text")
    if text is None:
        raise InvalidInputError(
            f"Cannot tell which column of {path.name} holds the text (columns: {header}); pass text_column=..."
        )
    return text, pick(label_column, LABEL_COLUMNS, "label")


def _rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append({str(k): v for k, v in json.loads(line).items()})
                except (json.JSONDecodeError, AttributeError) as exc:
                    raise InvalidInputError(f"{path.name} line {n} is not a JSON object: {exc}") from None
        return rows
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


def _subset(data: LabelledData, keep: list[int]) -> LabelledData:
    labels = cast("list[str] | list[list[str]]", [data.labels[i] for i in keep])
    return replace(
        data,
        texts=[data.texts[i] for i in keep],
        labels=labels,
        spans=[data.spans[i] for i in keep] if data.spans else [],
        words=[data.words[i] for i in keep] if data.words else [],
    )


def load_texts(path: str | Path, *, text_column: str | None = None, limit: int | None = None) -> list[str]:
    """Plain texts from a ``.txt`` file (one per line) or the text column of any supported format."""
    path = Path(path)
    if path.suffix == ".txt":
        _check_exists(path)
        texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return texts[:limit] if limit else texts
    return load_labelled(path, text_column=text_column, require_labels=False, limit=limit).texts


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise InvalidInputError(f"Data file {str(path)!r} does not exist.")
    if path.suffix not in FORMATS:
        raise InvalidInputError(f"Unsupported data format {path.suffix!r} for {path.name}; use one of {FORMATS}.")


def load_labelled(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    limit: int | None = None,
    require_labels: bool = True,
    seed: int | None = None,
) -> LabelledData:
    """Read a labelled data set (see the module docstring for formats).

    ``limit`` keeps the first ``limit`` items, or a seeded random sample of them when ``seed``
    is given.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix == ".conllu":
        data = _conllu(path, label_column, None if seed is not None else limit)
    else:
        rows = _rows(path)
        if not rows:
            raise InvalidInputError(f"{path.name} has no rows.")
        text_key, label_key = _columns(list(rows[0]), text_column, label_column, path)
        if label_key is None and require_labels:
            raise InvalidInputError(
                f"{path.name} has no label column (columns: {list(rows[0])}); pass label_column=..."
            )
        rows = [r for r in rows if str(r.get(text_key) or "").strip()]
        labels = [str(r.get(label_key, "")) for r in rows] if label_key else [""] * len(rows)
        data = LabelledData([str(r[text_key]) for r in rows], labels, "sentence", str(path))
    if limit and len(data) > limit:
        keep = sorted(random.Random(seed).sample(range(len(data)), limit)) if seed is not None else range(limit)
        data = _subset(data, list(keep))
    return data
