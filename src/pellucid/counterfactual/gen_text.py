"""Generators that edit the text itself, without a model: replacements, typos, case, scrambles.

Each returns :class:`~pellucid.counterfactual.base.Edit` objects whose ``changes`` are spans of
the original text, so ``edit.check(original)`` holds. Randomness comes from ``ctx.rng(...)``
salted with the generator's name and the variant number: the same seed gives the same edits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from pellucid.counterfactual import lexicons
from pellucid.counterfactual.base import Edit, GenContext, GeneratorSpec
from pellucid.counterfactual.words import ALPHA, WORD, Change, apply_changes, match_case
from pellucid.spec import Param

N_PARAM = Param("n", "int", 3, "How many edited prompts to make.", min=1, max=1000)


def _edit(text: str, generator: str, changes: Sequence[Change], label: str, **meta: object) -> Edit:
    changes = tuple(sorted(changes, key=lambda c: c.start))
    return Edit(apply_changes(text, changes), generator, changes, label, dict(meta))


def _dedupe(edits: list[Edit], original: str) -> list[Edit]:
    """Drop edits equal to the original or to an earlier edit."""
    seen = {original}
    out = []
    for e in edits:
        if e.text not in seen:
            seen.add(e.text)
            out.append(e)
    return out


# -- identity ---------------------------------------------------------------------------------
def identity(text: str, ctx: GenContext) -> list[Edit]:
    """The prompt unchanged (a control: its flip rate must be exactly 0)."""
    return [Edit(text, "identity", (), "identity")]


# -- word_replace -----------------------------------------------------------------------------
def replace_pairs(
    text: str, pairs: Sequence[tuple[str, str]], generator: str = "word_replace"
) -> tuple[Edit, list[str]]:
    """Replace every whole-word, case-insensitive occurrence of each ``old`` by ``new`` (case kept).

    Returns the edit and the ``old`` patterns that occur nowhere in ``text`` (reported, not ignored).
    Multi-word patterns are allowed (``"not good=>bad"``); the first matching pair wins on overlap.
    """
    changes: list[Change] = []
    taken: list[tuple[int, int]] = []
    unmatched: list[str] = []
    for old, new in pairs:
        pattern = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)", re.IGNORECASE)
        found = False
        for m in pattern.finditer(text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            found = True
            taken.append(m.span())
            changes.append(Change(m.start(), m.end(), m.group(), match_case(m.group(), new)))
        if not found:
            unmatched.append(old)
    label = "; ".join(f"{o}=>{n}" for o, n in pairs if o not in unmatched)
    return _edit(text, generator, changes, label or "no match", unmatched=unmatched), unmatched


def word_replace(text: str, ctx: GenContext, pairs: str = "", lexicon_file: str = "") -> list[Edit]:
    """One edit replacing each ``old`` of the pairs by its ``new``; none when nothing matches."""
    parsed = lexicons.parse_pairs(pairs, lexicon_file or None)
    edit, unmatched = replace_pairs(text, parsed)
    return [edit] if edit.changes else []


# -- synonyms ---------------------------------------------------------------------------------
def synonyms(text: str, ctx: GenContext, n: int = 3, max_words: int = 2, lexicon_file: str = "") -> list[Edit]:
    """Replace up to ``max_words`` words that have a synonym in the lexicon (seeded choice)."""
    table = lexicons.synonyms(lexicon_file or None)
    candidates = [m for m in ALPHA.finditer(text) if m.group().lower() in table]
    edits = []
    for k in range(n):
        if not candidates:
            break
        rng = ctx.rng("synonyms", k)
        chosen = rng.sample(candidates, min(max_words, len(candidates)))
        changes = [
            Change(m.start(), m.end(), m.group(), match_case(m.group(), rng.choice(table[m.group().lower()])))
            for m in chosen
        ]
        edits.append(_edit(text, "synonyms", changes, f"synonyms#{k}"))
    return _dedupe(edits, text)


# -- typos ------------------------------------------------------------------------------------
_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
TYPO_KINDS = ("neighbour", "deletion", "duplication", "swap")


def _neighbours(c: str) -> str:
    """Letters next to ``c`` on a QWERTY keyboard (same row and the rows above/below)."""
    low = c.lower()
    for r, row in enumerate(_ROWS):
        i = row.find(low)
        if i >= 0:
            near = {row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)}
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_ROWS):
                    near |= {_ROWS[rr][j] for j in (i - 1, i, i + 1) if 0 <= j < len(_ROWS[rr])}
            near.discard(low)
            return "".join(sorted(near))
    return ""


def typo(word: str, kind: str, rng: random.Random) -> str:
    """``word`` with one typo of ``kind`` (neighbour key, deletion, duplication, swapped letters)."""
    i = rng.randrange(len(word))
    if kind == "neighbour" and _neighbours(word[i]):
        c = rng.choice(_neighbours(word[i]))
        return word[:i] + (c.upper() if word[i].isupper() else c) + word[i + 1 :]
    if kind == "deletion" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == "swap" and len(word) > 1:
        i = rng.randrange(len(word) - 1)
        if word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[: i + 1] + word[i] + word[i + 1 :]  # duplication (and the fallback)


def typos(text: str, ctx: GenContext, n: int = 3, rate: float = 0.1, kinds: str = ",".join(TYPO_KINDS)) -> list[Edit]:
    """Each word of 3+ letters gets a typo with probability ``rate`` (at least one word per edit)."""
    allowed = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in allowed if k not in TYPO_KINDS]
    if bad or not allowed:
        from pellucid.errors import InvalidInputError

        raise InvalidInputError(f"typos kinds={kinds!r}; choose from {', '.join(TYPO_KINDS)} (comma-separated).")
    words = [m for m in ALPHA.finditer(text) if len(m.group()) >= 3]
    edits = []
    for k in range(n):
        if not words:
            break
        rng = ctx.rng("typos", k)
        chosen = [m for m in words if rng.random() < rate] or [rng.choice(words)]
        changes = []
        for m in chosen:
            kind = rng.choice(allowed)
            new = typo(m.group(), kind, rng)
            if new != m.group():
                changes.append(Change(m.start(), m.end(), m.group(), new, kind))
        if changes:
            edits.append(_edit(text, "typos", changes, f"typos#{k}"))
    return _dedupe(edits, text)


# -- case_and_whitespace ----------------------------------------------------------------------
def _per_word(text: str, fn: Callable[[str], str], kind: str) -> list[Change]:
    return [
        Change(m.start(), m.end(), m.group(), fn(m.group()), kind)
        for m in ALPHA.finditer(text)
        if fn(m.group()) != m.group()
    ]


CASE_VARIANTS = ("lower", "upper", "title", "double_spaces", "no_space_before_punct", "trailing_newline")


def case_and_whitespace(text: str, ctx: GenContext, variants: str = ",".join(CASE_VARIANTS)) -> list[Edit]:
    """Lower/upper/title case, doubled spaces, spaces before punctuation removed, a trailing newline."""
    chosen = [v.strip() for v in variants.split(",") if v.strip()]
    bad = [v for v in chosen if v not in CASE_VARIANTS]
    if bad:
        from pellucid.errors import InvalidInputError

        raise InvalidInputError(f"case_and_whitespace variants={bad[0]!r}; choose from {', '.join(CASE_VARIANTS)}.")
    edits = []
    for v in chosen:
        if v == "lower":
            changes = _per_word(text, str.lower, v)
        elif v == "upper":
            changes = _per_word(text, str.upper, v)
        elif v == "title":
            changes = _per_word(text, lambda w: w[:1].upper() + w[1:], v)
        elif v == "double_spaces":
            changes = [Change(m.start(), m.end(), m.group(), "  ", v) for m in re.finditer(r"(?<=\S) (?=\S)", text)]
        elif v == "no_space_before_punct":
            changes = [
                Change(m.start(), m.end(), m.group(), "", v) for m in re.finditer(r"(?<=\w) +(?=[.,!?;:'])", text)
            ]
        else:
            changes = [Change(len(text), len(text), "", "\n", v)]
        if changes:
            edits.append(_edit(text, "case_and_whitespace", changes, v))
    return _dedupe(edits, text)


# -- scramble ---------------------------------------------------------------------------------
def scramble(text: str, ctx: GenContext, n: int = 3, rate: float = 0.3, mode: str = "letters") -> list[Edit]:
    """``letters``: shuffle the inner letters of words (first and last kept); ``words``: shuffle word order."""
    from pellucid.errors import InvalidInputError

    if mode not in ("letters", "words"):
        raise InvalidInputError(f"scramble mode={mode!r}; choose letters or words.")
    edits = []
    for k in range(n):
        rng = ctx.rng("scramble", mode, k)
        if mode == "words":
            matches = list(WORD.finditer(text))
            if len(matches) < 2:
                break
            order = list(range(len(matches)))
            rng.shuffle(order)
            changes = [
                Change(m.start(), m.end(), m.group(), matches[j].group(), "move")
                for m, j in zip(matches, order)
                if m.group() != matches[j].group()
            ]
        else:
            words = [m for m in ALPHA.finditer(text) if len(set(m.group()[1:-1])) > 1]
            if not words:
                break
            chosen = [m for m in words if rng.random() < rate] or [rng.choice(words)]
            changes = []
            for m in chosen:
                w = m.group()
                inner = list(w[1:-1])
                for _ in range(5):
                    rng.shuffle(inner)
                    if "".join(inner) != w[1:-1]:
                        break
                new = w[0] + "".join(inner) + w[-1]
                if new != w:
                    changes.append(Change(m.start(), m.end(), w, new, "scramble"))
        if changes:
            edits.append(_edit(text, "scramble", changes, f"scramble-{mode}#{k}"))
    return _dedupe(edits, text)


# -- drop_word --------------------------------------------------------------------------------
def drop_word(text: str, ctx: GenContext, n: int = 3) -> list[Edit]:
    """Delete one word (with the space before it) per edit; ``n`` different words, seeded."""
    words = list(ALPHA.finditer(text))
    rng = ctx.rng("drop_word")
    chosen = sorted(rng.sample(range(len(words)), min(n, len(words))))
    edits = []
    for i in chosen:
        m = words[i]
        start = m.start()
        while start > 0 and text[start - 1] == " ":
            start -= 1
        if start == 0:  # first word: take the space after it instead
            end = m.end()
            while end < len(text) and text[end] == " ":
                end += 1
            change = Change(m.start(), end, text[m.start() : end], "", "delete")
        else:
            change = Change(start, m.end(), text[start : m.end()], "", "delete")
        edits.append(_edit(text, "drop_word", [change], f"drop '{m.group()}'"))
    return _dedupe(edits, text)


SPECS: tuple[GeneratorSpec, ...] = (
    GeneratorSpec("identity", "The prompt unchanged: a control whose flip rate must be exactly 0.", identity),
    GeneratorSpec(
        "word_replace",
        "Replace words by the user's pairs (old=>new), whole words, case-insensitive, case preserved.",
        word_replace,
        (
            Param("pairs", "str", "", "Pairs separated by ';', e.g. 'awful=>excellent; bad=>good'."),
            Param("lexicon_file", "str", "", "A file of one old=>new (or old<TAB>new) per line."),
        ),
    ),
    GeneratorSpec(
        "synonyms",
        "Replace words by synonyms from a small built-in lexicon (extensible with a TSV file).",
        synonyms,
        (
            N_PARAM,
            Param("max_words", "int", 2, "Most words replaced per edit.", min=1),
            Param("lexicon_file", "str", "", "Extra word<TAB>syn, syn lines."),
        ),
    ),
    GeneratorSpec(
        "typos",
        "Keyboard-neighbour letters, deleted, duplicated or swapped letters; seeded, rate controlled.",
        typos,
        (
            N_PARAM,
            Param("rate", "float", 0.1, "Probability that a word of 3+ letters gets a typo.", min=0.0, max=1.0),
            Param("kinds", "str", ",".join(TYPO_KINDS), "Typo kinds to draw from (comma-separated)."),
        ),
    ),
    GeneratorSpec(
        "case_and_whitespace",
        "Lower/upper/title case, doubled spaces, no space before punctuation, a trailing newline.",
        case_and_whitespace,
        (Param("variants", "str", ",".join(CASE_VARIANTS), "Which variants (comma-separated)."),),
    ),
    GeneratorSpec(
        "scramble",
        "Shuffle the inner letters of words (first/last kept), or the order of words.",
        scramble,
        (
            N_PARAM,
            Param("rate", "float", 0.3, "Share of eligible words scrambled (letters mode).", min=0.0, max=1.0),
            Param("mode", "str", "letters", "letters or words.", choices=("letters", "words")),
        ),
    ),
    GeneratorSpec("drop_word", "Delete one word per edit (n different words, seeded).", drop_word, (N_PARAM,)),
)
