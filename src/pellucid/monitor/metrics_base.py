"""The types every evaluation metric shares, and the checks on its inputs.

A metric turns predictions (and references, an embedding function or token
log-probabilities, whichever it declares in ``needs``) into a :class:`MetricResult`: one value
per example, one aggregate, and provenance in ``details``. :class:`Metric` is the registry
entry; :class:`MetricInputs` carries everything a metric may read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pellucid.errors import InvalidInputError

#: A batch embedding function: texts in, one row per text out.
EmbedFn = Callable[[list[str]], np.ndarray]
#: One example's references: a single string or several.
References = Sequence[str | Sequence[str]]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class MetricInputError(InvalidInputError):
    """Predictions, references or extra inputs a metric cannot use."""


@dataclass(frozen=True)
class MetricResult:
    """Per-example values and their aggregate for one metric.

    Attributes:
        name: the metric's registry name.
        values: one value per example, in input order.
        aggregate: the corpus-level score (BLEU, chrF) or the mean of ``values``.
        aggregation: ``"corpus"`` or ``"mean"``.
        higher_is_better: direction of improvement.
        details: library signature, scale and other provenance.
    """

    name: str
    values: tuple[float, ...]
    aggregate: float
    aggregation: str = "mean"
    higher_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (non-finite numbers written as ``null``)."""

        def clean(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "name": self.name,
            "values": [clean(v) for v in self.values],
            "aggregate": clean(self.aggregate),
            "aggregation": self.aggregation,
            "higher_is_better": self.higher_is_better,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class MetricInputs:
    """Everything a metric may read; each metric declares which parts it needs."""

    predictions: list[str]
    references: list[list[str]] | None = None
    embed: EmbedFn | None = None
    token_logprobs: list[np.ndarray] | None = None


@dataclass(frozen=True)
class Metric:
    """A registered metric: its name, what it needs and how to compute it."""

    name: str
    compute: Callable[[MetricInputs], MetricResult]
    description: str
    needs: tuple[str, ...] = ("references",)
    higher_is_better: bool = True


# -- input checks ---------------------------------------------------------------------------


def check_predictions(predictions: Sequence[str]) -> list[str]:
    """A non-empty list of strings."""
    if isinstance(predictions, str):
        raise MetricInputError("predictions must be a list of strings, not one string; wrap it: [prediction].")
    items = list(predictions)
    if not items:
        raise MetricInputError("predictions is empty; give at least one response to score.")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise MetricInputError(
                f"predictions[{i}] is {type(item).__name__} ({item!r}); every prediction must be text."
            )
    return items


def check_references(references: References, n: int) -> list[list[str]]:
    """One reference (string) or several (list of strings) per prediction, as lists."""
    if isinstance(references, str):
        raise MetricInputError("references must be a list (one entry per prediction), not one string.")
    items = list(references)
    if len(items) != n:
        raise MetricInputError(
            f"Got {n} predictions but {len(items)} references; give one reference (or a list of references) "
            "per prediction, in the same order."
        )
    out: list[list[str]] = []
    for i, item in enumerate(items):
        refs = [item] if isinstance(item, str) else list(item)
        if not refs or not all(isinstance(r, str) for r in refs):
            raise MetricInputError(f"references[{i}] must be a string or a non-empty list of strings; got {item!r}.")
        out.append(refs)
    return out


def require_input(inputs: MetricInputs, what: str, metric: str) -> Any:
    value = getattr(inputs, what)
    if value is None:
        hints = {
            "references": "pass references=[...] (one per prediction)",
            "embed": "pass embed=<function from list[str] to an [n, dim] array> (e.g. the MiniLM encoder)",
            "token_logprobs": "pass token_logprobs=[[log p(token) for each response token], ...]",
        }
        raise MetricInputError(f"Metric {metric!r} needs {what}: {hints[what]}.")
    return value


def check_logprobs(token_logprobs: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Finite, non-positive log-probabilities, at least one token per example."""
    out = []
    for i, row in enumerate(token_logprobs):
        values = np.asarray(row, dtype=np.float64).ravel()
        if values.size == 0:
            raise MetricInputError(f"token_logprobs[{i}] is empty; perplexity needs at least one scored token.")
        if not np.isfinite(values).all():
            raise MetricInputError(f"token_logprobs[{i}] contains NaN or infinite values; drop those tokens.")
        if (values > 1e-6).any():
            raise MetricInputError(
                f"token_logprobs[{i}] has a positive value ({values.max():g}); give natural-log probabilities "
                "(≤ 0), not probabilities or logits."
            )
        out.append(values)
    if not out:
        raise MetricInputError("token_logprobs is empty; give one list of token log-probabilities per response.")
    return out
