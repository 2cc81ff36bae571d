"""Prompt files for data-set runs: JSONL, CSV or TSV records turned into prompts and targets.

A record either carries its ``prompt`` (and optionally a ``target``), or a text field
(``text``, ``content``, ``sentence``, ``review``) that is put into a template — by default a
sentiment question — with its ``label`` (0/1, negative/positive) as the target. SST-2's
``dev.tsv`` reads as is. Used by ``pellucid faithfulness`` and ``pellucid explain --data``;
:mod:`pellucid.attribution.faithfulness` re-exports :func:`load_prompts`, :func:`fill_template`
and :class:`PromptSet`.
"""

from __future__ import annotations

import csv
import json
import string
from dataclasses import dataclass, field
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
    #: per prompt, the ``(start, end)`` characters of the row's own text inside a templated prompt
    #: (``None``: the prompt came as is), so that only the row's words are attributed
    spans: list[tuple[int, int] | None] = field(default_factory=list)
    #: the template the text rows were put into (``None``: every row had a ``prompt``)
    template: str | None = None
    #: per prompt, its row in the file: 1-based, the header line excluded (as robustness numbers rows)
    rows: list[int] = field(default_factory=list)


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
    spans: list[tuple[int, int] | None] = []
    rows: list[int] = []
    used: str | None = None
    skipped = 0
    for row, record in enumerate(_records(path, suffix), start=1):
        number = row + 1 if suffix != ".jsonl" else row
        if limit is not None and len(prompts) >= limit:
            break
        record = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
        if "prompt" in record:
            text, target = str(record["prompt"] or ""), record.get("target") or None
            span: tuple[int, int] | None = None
        else:
            key = next((k for k in _TEXT_KEYS if k in record), None)
            if key is None:
                raise InvalidInputError(
                    f"{path.name} line {number} has no prompt/text/content/sentence field (fields: {sorted(record)})."
                )
            label = str(record.get("label", "")).strip().lower()
            target = record.get("target") or SENTIMENT_TARGETS.get(label)
            text, span = fill_template(template, str(record[key] or "").strip())
            used = template
        if not text.strip():
            skipped += 1
            continue
        prompts.append(text)
        targets.append(None if target is None else str(target))
        spans.append(span)
        rows.append(row)
    return PromptSet(prompts=prompts, targets=targets, skipped=skipped, spans=spans, template=used, rows=rows)


def fill_template(template: str, text: str) -> tuple[str, tuple[int, int] | None]:
    """``template`` with ``{text}`` filled in, and where the text landed: ``(prompt, (start, end))``.

    Empty text gives ``("", None)`` (the row is skipped). Other fields or escaped braces are
    formatted as :meth:`str.format` does; the span is that of the first ``{text}``.
    """
    if not text:
        return "", None
    parts: list[str] = []
    span: tuple[int, int] | None = None
    length = 0
    for literal, name, spec, conversion in string.Formatter().parse(template):
        parts.append(literal)
        length += len(literal)
        if name is None:
            continue
        if name != "text":
            raise InvalidInputError(f"The template {template!r} has the field {{{name}}}; only {{text}} is filled in.")
        value = format(text if conversion is None else repr(text) if conversion == "r" else str(text), spec or "")
        if span is None:
            span = (length, length + len(value))
        parts.append(value)
        length += len(value)
    return "".join(parts), span


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
