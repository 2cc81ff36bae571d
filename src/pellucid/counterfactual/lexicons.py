"""Word lists the generators use: built-in package data, extensible by the user's own files.

Built-in files live in ``pellucid/counterfactual/data/``:

- ``demographic.json`` — for each dimension (``gender``, ``names``, ``nationality``,
  ``religion``, ``age``), groups of *aligned* term lists: term ``i`` of one group corresponds to
  term ``i`` of another (``he``/``she``, ``his``/``her``...). A user file with the same shape adds
  dimensions or groups (groups of the same name are replaced).
- ``synonyms.tsv`` — ``word<TAB>synonym, synonym, ...``; a user file adds or replaces entries.
- ``injections.json`` — the prompt-injection suite (see :mod:`pellucid.counterfactual.injection`).

Replacement pairs (``word_replace``) come from the command line (``"awful=>excellent"``) or a
file of one ``old=>new`` (or ``old<TAB>new``) per line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError

_DATA = resources.files("pellucid.counterfactual") / "data"


def builtin_text(name: str) -> str:
    """The text of a packaged data file."""
    return (_DATA / name).read_text(encoding="utf-8")


def _read_user_file(path: str | Path, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"The {what} file {str(p)!r} does not exist; give the path of a readable file.")
    return p.read_text(encoding="utf-8")


# -- demographic groups -----------------------------------------------------------------------
Groups = dict[str, dict[str, list[str]]]  # dimension -> group -> aligned terms


@functools.cache
def _builtin_groups() -> str:
    return builtin_text("demographic.json")


def demographic_groups(extra_file: str | None = None) -> Groups:
    """Built-in dimensions and groups, updated with those of ``extra_file`` (same JSON shape)."""
    groups: Groups = _parse_groups(_builtin_groups(), "built-in demographic.json")
    if extra_file:
        for dim, extra in _parse_groups(_read_user_file(extra_file, "word list"), str(extra_file)).items():
            groups.setdefault(dim, {}).update(extra)
    return groups


def _parse_groups(text: str, source: str) -> Groups:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{source} is not valid JSON ({exc}); see docs/counterfactual.md for the format."
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source} must map dimension -> group -> [terms].")
    out: Groups = {}
    for dim, groups in data.items():
        if dim.startswith("_"):
            continue  # comments
        if not isinstance(groups, dict) or not all(isinstance(t, list) for t in groups.values()):
            raise InvalidInputError(f"{source}: dimension {dim!r} must map group names to lists of terms.")
        out[dim] = {g: [str(t) for t in terms] for g, terms in groups.items()}
    return out


# -- synonyms ---------------------------------------------------------------------------------
def synonyms(extra_file: str | None = None) -> dict[str, list[str]]:
    """Lower-case word -> synonyms, built in plus ``extra_file`` (same TSV format)."""
    table = _parse_synonyms(builtin_text("synonyms.tsv"))
    if extra_file:
        table.update(_parse_synonyms(_read_user_file(extra_file, "synonym")))
    return table


def _parse_synonyms(text: str) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, _, rest = line.partition("\t")
        options = [s.strip() for s in rest.split(",") if s.strip()]
        if options:
            table[word.strip().lower()] = options
    return table


# -- replacement pairs ------------------------------------------------------------------------
def parse_pairs(spec: str | Sequence[str] | None, file: str | None = None) -> list[tuple[str, str]]:
    """``"awful=>excellent; bad=>good"`` (or a list of such strings, or a file) as pairs.

    Raises :class:`InvalidInputError` for an item without ``=>`` or with an empty left side.
    """
    items: list[str] = []
    if isinstance(spec, str):
        items += [s for s in spec.split(";")]
    elif spec:
        items += list(spec)
    if file:
        items += _read_user_file(file, "replacement").splitlines()
    pairs: list[tuple[str, str]] = []
    for raw in items:
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        if "=>" in item:
            old, new = item.split("=>", 1)
        elif "\t" in item:
            old, new = item.split("\t", 1)
        else:
            raise InvalidInputError(f"Replacement {item!r} has no '=>'; write it as old=>new, e.g. 'awful=>excellent'.")
        if not old.strip():
            raise InvalidInputError(f"Replacement {item!r} has nothing to replace; write it as old=>new.")
        pairs.append((old.strip(), new.strip()))
    return pairs
