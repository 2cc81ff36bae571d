"""Words, spans and diffs: the bookkeeping that makes every edit checkable.

An edited prompt is described by :class:`Change` records — character spans of the *original*
text and what replaced them. :func:`apply_changes` rebuilds the edited text from the original
and its changes, so a test (or a suspicious user) can check that a generator changed exactly
what it says it changed. :func:`word_diff` compares two texts word by word (what the CLI shows),
and :func:`token_edit_distance` counts insertions, deletions and substitutions between two
token sequences.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: A word: letters/digits with inner apostrophes or hyphens; punctuation marks are words of one character.
WORD = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")
#: Alphabetic words only (what typo, synonym and swap generators may touch).
ALPHA = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


@dataclass(frozen=True)
class Change:
    """Characters ``original[start:end]`` (``old``) were replaced by ``new``.

    ``start == end`` is an insertion; ``new == ""`` is a deletion.
    """

    start: int
    end: int
    old: str
    new: str
    kind: str = "replace"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spans(text: str, pattern: re.Pattern[str] = WORD) -> list[tuple[int, int]]:
    """Character spans of the words of ``text``."""
    return [m.span() for m in pattern.finditer(text)]


def words(text: str) -> list[str]:
    """The words of ``text`` (punctuation marks are words of their own)."""
    return WORD.findall(text)


def apply_changes(text: str, changes: Sequence[Change]) -> str:
    """Rebuild an edited text from the original and its (non-overlapping) changes.

    Raises ``ValueError`` when a change's ``old`` does not match the original at its span or when
    changes overlap: a generator that reports its edits wrongly fails loudly.
    """
    out: list[str] = []
    cursor = 0
    for ch in sorted(changes, key=lambda c: (c.start, c.end)):
        if ch.start < cursor:
            raise ValueError(f"overlapping changes at character {ch.start}")
        if text[ch.start : ch.end] != ch.old:
            raise ValueError(
                f"change says {ch.old!r} at {ch.start}:{ch.end} but the text has {text[ch.start : ch.end]!r}"
            )
        out.append(text[cursor : ch.start])
        out.append(ch.new)
        cursor = ch.end
    out.append(text[cursor:])
    return "".join(out)


def match_case(source: str, replacement: str) -> str:
    """``replacement`` written in the case pattern of ``source`` (``Awful`` -> ``Excellent``)."""
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@dataclass(frozen=True)
class DiffOp:
    """One step of a word diff: ``equal``, ``replace``, ``delete`` or ``insert``."""

    op: str
    old: list[str]
    new: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def word_diff(a: str, b: str) -> list[DiffOp]:
    """Word-level diff of ``a`` -> ``b`` (case-sensitive; whitespace differences are invisible)."""
    wa, wb = words(a), words(b)
    matcher = difflib.SequenceMatcher(a=wa, b=wb, autojunk=False)
    return [DiffOp(op, wa[i1:i2], wb[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes()]


def changed_words(diff: Sequence[DiffOp]) -> list[tuple[str, str]]:
    """``(old, new)`` text of every non-equal step of a diff."""
    return [(" ".join(d.old), " ".join(d.new)) for d in diff if d.op != "equal"]


def token_edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance between two token sequences (unit costs)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
