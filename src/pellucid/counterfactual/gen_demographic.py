"""``demographic_swap``: the same prompt about someone of another gender, name, nationality, religion or age.

Counterfactual fairness asks whether the answer changes when only a demographic attribute
changes. The word lists (``data/demographic.json``, extensible with a file of the same shape)
hold, per dimension, groups of *aligned* terms: ``he``/``she``, ``his``/``her``, ``John``/``Mary``.

- A dimension with two groups (gender, names, age) gives one edit that swaps both ways at once
  (``he`` -> ``she`` and ``she`` -> ``he``), so a text mentioning both stays consistent.
- A dimension with more groups (nationality, religion) gives one edit per target group: every
  term of another group becomes the aligned term of the target group.

Matching is whole-word and case-insensitive; the replacement keeps the case of the original.
``her`` is ambiguous (``him`` or ``his``): it becomes ``his`` when a noun-like word follows.
"""

from __future__ import annotations

import re

from pellucid.counterfactual import lexicons
from pellucid.counterfactual.base import Edit, GenContext, GeneratorSpec
from pellucid.counterfactual.gen_text import _dedupe, _edit
from pellucid.counterfactual.words import Change, match_case
from pellucid.errors import InvalidInputError
from pellucid.spec import Param


def _find_terms(text: str, groups: dict[str, list[str]]) -> list[tuple[re.Match[str], str, int]]:
    """Occurrences of any term: ``(match, group, index in the group's list)``; first listing wins."""
    index: dict[str, tuple[str, int]] = {}
    for group, terms in groups.items():
        for i, term in enumerate(terms):
            index.setdefault(term.lower(), (group, i))
    if not index:
        return []
    alternation = "|".join(re.escape(t) for t in sorted(index, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
    return [(m, *index[m.group().lower()]) for m in pattern.finditer(text)]


def _to_group(
    found: list[tuple[re.Match[str], str, int]], groups: dict[str, list[str]], target: dict[str, str]
) -> list[Change]:
    changes = []
    for m, group, i in found:
        if group not in target:
            continue
        terms = groups[target[group]]
        if i < len(terms):
            new = match_case(m.group(), _her(m) if m.group().lower() == "her" and "his" in terms else terms[i])
            if new != m.group():
                changes.append(Change(m.start(), m.end(), m.group(), new, target[group]))
    return changes


_NOT_NOUN = frozenset(
    "and or but to that the a an in on at with for from by of is was as than so if when because".split()
)


def _her(m: re.Match[str]) -> str:
    """``her`` is possessive (-> ``his``) before a noun-like word, else an object (-> ``him``)."""
    after = re.match(r"\s+([^\W\d_]+)", m.string[m.end() :])
    return "his" if after and after.group(1).lower() not in _NOT_NOUN else "him"


def demographic_swap(
    text: str, ctx: GenContext, dimensions: str = "", max_variants: int = 8, lexicon_file: str = ""
) -> list[Edit]:
    """Swap demographic terms, one edit per dimension (two groups) or per target group (more)."""
    table = lexicons.demographic_groups(lexicon_file or None)
    wanted = [d.strip() for d in dimensions.split(",") if d.strip()] or list(table)
    unknown = [d for d in wanted if d not in table]
    if unknown:
        raise InvalidInputError(
            f"demographic_swap dimensions={unknown[0]!r} is not a word-list dimension; available: "
            f"{', '.join(table)} (add your own with lexicon_file=...)."
        )
    edits: list[Edit] = []
    for dim in wanted:
        groups = table[dim]
        found = _find_terms(text, groups)
        if not found:
            continue
        names = list(groups)
        if len(names) == 2:
            a, b = names
            changes = _to_group(found, groups, {a: b, b: a})
            if changes:
                edits.append(_edit(text, "demographic_swap", changes, f"{dim}: {a}<->{b}", dimension=dim))
            continue
        present = {g for _, g, _ in found}
        for target in [g for g in names if g not in present or len(present) > 1][:max_variants]:
            mapping = {g: target for g in names if g != target}
            changes = _to_group(found, groups, mapping)
            if changes:
                edits.append(
                    _edit(text, "demographic_swap", changes, f"{dim}: ->{target}", dimension=dim, group=target)
                )
    return _dedupe(edits, text)


SPEC = GeneratorSpec(
    "demographic_swap",
    "Swap names, pronouns, gendered terms, nationality, religion and age groups (built-in word lists, extensible).",
    demographic_swap,
    (
        Param(
            "dimensions",
            "str",
            "",
            "Comma-separated dimensions (default all: gender, names, nationality, religion, age).",
        ),
        Param("max_variants", "int", 8, "Most target groups per many-group dimension.", min=1),
        Param("lexicon_file", "str", "", "A JSON file: dimension -> group -> aligned terms."),
    ),
)
