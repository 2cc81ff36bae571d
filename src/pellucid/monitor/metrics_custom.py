"""Your own metrics, and which metrics go with what users liked.

**Custom metrics.** Any Python function can be a metric::

    # my_metrics.py
    def politeness(prediction: str, reference: str) -> float:
        return float("please" in prediction.lower())

``load_metric("my_metrics:politeness")`` imports it and wraps it as a
:class:`~pellucid.monitor.metrics.Metric`, computed like the built-in ones: called once per
example (once per reference when there are several, keeping the best), the aggregate is the
mean. ``batched=True`` calls it once with the whole lists instead
(``fn(predictions, references) -> list[float]``, first reference of each example). A package
can also publish metrics under the ``pellucid.metrics`` entry-point group; they are then
found by their entry-point name.

**Correlation with feedback.** :func:`correlation_with_feedback` asks whether a metric moves
with human judgement. Spearman's ρ compares *ranks* (does a higher metric go with a higher
rating, whatever the scale?); for thumbs up/down the point-biserial r is the Pearson
correlation with a 0/1 variable — equivalently, how far apart the metric's means are for
thumbs-up and thumbs-down records, in units of its spread. Both come with a p-value for
"no relation at all"; a small p-value with a small r is a real but weak link.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor.metrics_base import Metric, MetricInputError, MetricInputs, MetricResult

ENTRY_POINT_GROUP = "pellucid.metrics"

_UP = {"up", "thumbs_up", "thumbsup", "+1", "1", "positive", "good", "yes", "true", "like", "👍"}
_DOWN = {"down", "thumbs_down", "thumbsdown", "-1", "0", "negative", "bad", "no", "false", "dislike", "👎"}


# -- custom metrics -------------------------------------------------------------------------


def _import_function(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInputError(
            f"Custom metric {spec!r} is not of the form 'package.module:function', e.g. 'my_metrics:politeness'."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and not module_name.startswith(missing):
            raise InvalidInputError(
                f"Custom metric {spec!r}: module {module_name!r} was found but imports {missing!r}, which is not "
                "installed; install it into this environment."
            ) from exc
        raise InvalidInputError(
            f"Custom metric {spec!r}: module {module_name!r} cannot be imported ({exc}). Install its package or "
            "run from the folder that contains it (it must be on sys.path / PYTHONPATH)."
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise InvalidInputError(
                f"Custom metric {spec!r}: module {module_name!r} has no {attr!r}. "
                f"Callables it defines: {', '.join(names) or '(none)'}."
            )
        target = getattr(target, part)
    if not callable(target):
        raise InvalidInputError(f"Custom metric {spec!r} is a {type(target).__name__}, not a function.")
    return target


def _as_score(value: Any, name: str, index: int) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(
            f"Custom metric {name!r} returned {value!r} for example {index}; return a number."
        ) from exc
    if not math.isfinite(score):
        raise MetricInputError(f"Custom metric {name!r} returned {score} for example {index}; return a finite number.")
    return score


def _call(fn: Callable[..., Any], name: str, index: int, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # the user's code: report where it failed
        raise MetricInputError(
            f"Custom metric {name!r} failed on example {index}: {type(exc).__name__}: {exc}"
        ) from exc


def wrap_metric(fn: Callable[..., Any], name: str, *, batched: bool = False, higher_is_better: bool = True) -> Metric:
    """Turn a ``(prediction, reference) -> float`` function into a :class:`Metric`."""

    def compute(inputs: MetricInputs) -> MetricResult:
        if inputs.references is None:
            raise MetricInputError(f"Custom metric {name!r} needs references=[...] (one per prediction).")
        preds, refs = inputs.predictions, inputs.references
        if batched:
            raw = _call(fn, name, 0, preds, [r[0] for r in refs])
            if len(raw) != len(preds):
                raise MetricInputError(f"Custom metric {name!r} returned {len(raw)} values for {len(preds)} examples.")
            values = [_as_score(v, name, i) for i, v in enumerate(raw)]
        else:
            values = [
                max(_as_score(_call(fn, name, i, p, r), name, i) for r in rs)
                for i, (p, rs) in enumerate(zip(preds, refs, strict=True))
            ]
        details = {"custom": True, "function": f"{fn.__module__}:{getattr(fn, '__qualname__', name)}"}
        return MetricResult(
            name, tuple(values), float(np.mean(values)), higher_is_better=higher_is_better, details=details
        )

    doc = (fn.__doc__ or "").strip().splitlines()
    return Metric(name, compute, doc[0] if doc else f"custom metric {name}", higher_is_better=higher_is_better)


def load_metric(spec: str, *, batched: bool = False, higher_is_better: bool = True, name: str | None = None) -> Metric:
    """Import ``"package.module:function"`` and wrap it as a metric named ``name`` (default: the function's)."""
    fn = _import_function(spec)
    return wrap_metric(fn, name or spec.partition(":")[2], batched=batched, higher_is_better=higher_is_better)


def entry_point_metric(name: str) -> Metric | None:
    """The metric a package registered as ``name`` in the ``pellucid.metrics`` entry-point group."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return load_metric(ep.value, name=name)
    return None


# -- correlation with feedback --------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackCorrelation:
    """How a metric moves with human feedback.

    Attributes:
        n: pairs used (records with both a metric value and feedback).
        n_dropped: pairs skipped because one side was missing (``None``/NaN).
        spearman, spearman_p: rank correlation and its p-value (``None`` if undefined).
        point_biserial, point_biserial_p: correlation with thumbs up (1) vs down (0); ``None``
            unless the feedback has exactly two values.
        verdict: one plain-language sentence.
    """

    metric: str
    n: int
    n_dropped: int
    spearman: float | None
    spearman_p: float | None
    point_biserial: float | None
    point_biserial_p: float | None
    binary: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return dict(self.__dict__)


def _feedback_value(value: Any, index: int) -> float:
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _UP:
            return 1.0
        if key in _DOWN:
            return 0.0
        try:
            return float(key)
        except ValueError:
            raise InvalidInputError(
                f"feedback[{index}] is {value!r}; use numbers, True/False, or 'up'/'down'."
            ) from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"feedback[{index}] is {value!r}; use numbers, True/False, or 'up'/'down'.") from None


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def correlation_with_feedback(
    values: Sequence[float | None], feedback: Sequence[Any], *, metric: str = "the metric", alpha: float = 0.05
) -> FeedbackCorrelation:
    """Spearman ρ (and point-biserial r for thumbs up/down) between metric values and feedback."""
    from scipy.stats import pointbiserialr, spearmanr

    if len(values) != len(feedback):
        raise InvalidInputError(f"Got {len(values)} metric values but {len(feedback)} feedback entries; pair them.")
    x = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    y = np.array([_feedback_value(f, i) for i, f in enumerate(feedback)], dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        raise InvalidInputError(
            f"Only {x.size} record(s) have both {metric} and feedback; at least 3 are needed for a correlation."
        )
    levels = np.unique(y)
    binary = levels.size == 2
    if np.ptp(x) == 0 or levels.size < 2:
        constant = metric if np.ptp(x) == 0 else "the feedback"
        verdict = f"No correlation can be computed: {constant} is the same for all {x.size} records."
        return FeedbackCorrelation(metric, int(x.size), int((~keep).sum()), None, None, None, None, binary, verdict)
    rho, rho_p = spearmanr(x, y)
    pb, pb_p = (None, None)
    if binary:
        pb, pb_p = pointbiserialr((y == levels[1]).astype(float), x)
    result = FeedbackCorrelation(
        metric=metric,
        n=int(x.size),
        n_dropped=int((~keep).sum()),
        spearman=_finite_or_none(float(rho)),
        spearman_p=_finite_or_none(float(rho_p)),
        point_biserial=None if pb is None else _finite_or_none(float(pb)),
        point_biserial_p=None if pb_p is None else _finite_or_none(float(pb_p)),
        binary=binary,
        verdict="",
    )
    object.__setattr__(result, "verdict", _feedback_verdict(result, alpha))
    return result


def _feedback_verdict(r: FeedbackCorrelation, alpha: float) -> str:
    if r.binary and r.point_biserial is not None and r.point_biserial_p is not None:
        coef, p, label = r.point_biserial, r.point_biserial_p, "point-biserial r"
        good, bad = "thumbs-up", "thumbs-down"
    else:
        coef, p, label = r.spearman or 0.0, r.spearman_p if r.spearman_p is not None else 1.0, "Spearman ρ"
        good, bad = "higher ratings", "lower ratings"
    figures = f"{label}={coef:.2f}, p={p:.2g}, over {r.n:,} rated records"
    if p >= alpha:
        return f"No clear link between {r.metric} and feedback: {figures}."
    side = good if coef > 0 else bad
    return f"Higher {r.metric} goes with {side}: {figures}."
