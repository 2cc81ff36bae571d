"""When a classification result cannot support a robustness verdict, say so.

A classifier that gives the same answer to (nearly) every example never flips, so its flip rate is
0 whatever the edits do, and an accuracy that chance alone would reach says nothing about the
model's skill. Both look like normal results in a table. :func:`classifier_warnings` returns the
sentences a report and the CLI show instead, with the likely cause: after a chat template, answer
options written with a leading space (" negative") are often not how the model starts its reply,
so one option wins by tokenization rather than by meaning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pellucid.counterfactual.metrics import wilson_interval

#: One answer winning at least this share of the examples makes the classifier degenerate.
DOMINANT_SHARE = 0.95
#: Fewer examples than this cannot show either pattern reliably: no warning.
MIN_EXAMPLES = 10

_CAUSE = (
    "Likely cause: the answer options do not match how the model begins its reply — e.g. options with a "
    "leading space (' negative') after a chat template, where the reply starts without one (see the target "
    "note of `pellucid explain`); try the options without the space, --raw, or a template that ends where "
    "the answer begins."
)


def classifier_warnings(answers: Sequence[Any], correct: Sequence[bool | None], options: Sequence[str]) -> list[str]:
    """Warnings about a classification run's examples (their answers and, when labelled, correctness)."""
    n = len(answers)
    if n < MIN_EXAMPLES or not options:
        return []
    warnings = []
    top, count = Counter(answers).most_common(1)[0]
    if count / n >= DOMINANT_SHARE:
        warnings.append(
            f"The model answered {top!r} for {count} of {n} examples ({count / n:.0%}): a classifier that gives "
            f"one answer to nearly everything cannot flip, so its flip rates say nothing. {_CAUSE}"
        )
    labelled = [c for c in correct if c is not None]
    if len(labelled) >= MIN_EXAMPLES:
        hits = sum(bool(c) for c in labelled)
        lo, hi = wilson_interval(hits, len(labelled))
        chance = 1 / len(options)
        if lo <= chance <= hi:
            warnings.append(
                f"Accuracy {hits / len(labelled):.2f} (95 % interval {lo:.2f}–{hi:.2f}, n={len(labelled)}) is "
                f"consistent with chance ({chance:.2f} for {len(options)} options): the model is not shown to "
                f"do the task, so changes under edits are not evidence of (non-)robustness. {_CAUSE}"
            )
    return warnings
