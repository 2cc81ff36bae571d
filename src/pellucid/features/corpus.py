"""Texts to train and evaluate dictionaries on, read lazily from a file or taken from the caller.

A corpus is a file or any iterable of strings (logged prompts and responses, for example). Files
are read line by line, never whole:

- ``.txt``: one text per non-empty line;
- ``.jsonl``: one JSON object per line; the text is the field named ``text_field`` or the first of
  ``text``, ``prompt``, ``response``, ``sentence``, ``content`` that the object has;
- ``.tsv`` / ``.csv``: a header row, then the column named ``text_field`` or the first of those
  names present (SST-2's ``sentence``);
- ``.conllu``: the ``# text = ...`` comment of each sentence (Universal Dependencies treebanks).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pellucid.errors import InvalidInputError

FORMATS = (".txt", ".jsonl", ".tsv", ".csv", ".conllu")
TEXT_FIELDS = ("text", "prompt", "response", "sentence", "content")

Corpus = str | Path | Iterable[str]


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInputError(f"Corpus file {str(path)!r} does not exist; give a path to a {'/'.join(FORMATS)} file.")
    if path.suffix not in FORMATS:
        raise InvalidInputError(
            f"Corpus {path.name!r} has the unsupported format {path.suffix!r}; use one of {', '.join(FORMATS)}."
        )


def _field(names: Iterable[str], wanted: str | None, where: str) -> str:
    names = list(names)
    if wanted is not None:
        if wanted not in names:
            raise InvalidInputError(f"{where} has no field {wanted!r}; its fields: {', '.join(names)}.")
        return wanted
    for name in TEXT_FIELDS:
        if name in names:
            return name
    raise InvalidInputError(
        f"{where} has none of the text fields {', '.join(TEXT_FIELDS)} (its fields: {', '.join(names)}); "
        "name the field with text_field."
    )


def _jsonl(path: Path, text_field: str | None) -> Iterator[str]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path.name} line {number} is not JSON ({exc}).") from None
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path.name} line {number} is not a JSON object.")
            yield str(row.get(_field(row.keys(), text_field, f"{path.name} line {number}")) or "")


def _table(path: Path, text_field: str | None) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t" if path.suffix == ".tsv" else ",", quoting=csv.QUOTE_MINIMAL)
        header = next(reader, None)
        if header is None:
            return
        column = header.index(_field(header, text_field, path.name))
        for row in reader:
            if len(row) > column:
                yield row[column]


def _conllu(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("# text = "):
                yield line[len("# text = ") :].rstrip("\n")


def iter_texts(corpus: Corpus, text_field: str | None = None) -> Iterator[str]:
    """The corpus's non-empty texts, in order, read lazily."""
    if isinstance(corpus, str | Path):
        path = Path(corpus)
        _check_file(path)
        if path.suffix == ".txt":
            with path.open(encoding="utf-8") as lines:
                texts: Iterable[str] = (line.rstrip("\n") for line in lines)
                yield from (t for t in texts if t.strip())
            return
        if path.suffix == ".jsonl":
            source: Iterator[str] = _jsonl(path, text_field)
        elif path.suffix == ".conllu":
            source = _conllu(path)
        else:
            source = _table(path, text_field)
        yield from (t for t in source if t.strip())
        return
    yield from (t for t in corpus if isinstance(t, str) and t.strip())


def check_corpus(corpus: Corpus, text_field: str | None = None) -> None:
    """Refuse, before any model loads, a corpus that is missing, unreadable or has no text."""
    if not isinstance(corpus, str | Path) and iter(corpus) is corpus:
        return  # a one-shot iterator: checking it would consume it; the stream checks it as it reads
    if next(iter_texts(corpus, text_field), None) is None:
        name = str(corpus) if isinstance(corpus, str | Path) else "The given texts"
        raise InvalidInputError(f"Corpus {name!r} has no text (every entry is empty); give a corpus with some text.")
