"""The alert condition language: one line saying what to watch, over which window, and when to fire.

Three forms::

    mean(latency_ms) > 500 over 1h           an aggregate of any chartable metric
    rate(feedback=thumbs_down) > 0.3 over 1d a share of records
    drift(embedding) p < 0.01 over 1d vs 7d  a drift test's p-value

- Aggregates: ``mean``, ``min``, ``max``, ``sum``, ``count``, ``p50``, ``p90``, ``p95``, ``p99`` of a
  metric: a built-in one (``latency_ms``, ``ttft_ms``, ``prompt_tokens``, ``response_chars``,
  ``error``, ``records``...), an enrichment (``perplexity``, ``mean_entropy``, ``toxicity``) or
  ``flag:<name>``.
- Rates: ``rate(feedback=KIND)`` is the share of *rated* records in the window that got feedback
  ``KIND`` (``thumbs_down``, ``thumbs_up``...); ``rate(flag=NAME)`` the share of records carrying a
  data-quality flag; ``rate(error)`` and ``rate(cache_hit)`` the shares of failed and cached calls.
- Drift: ``drift(embedding)`` (prompt embeddings, MMD test), ``drift(response_embedding)``, or
  ``drift(<scalar metric>)`` (KS test). The current window is the last ``over`` (default 1d),
  the reference the ``vs`` span just before it (default 7d). The value is the p-value.

Operators: ``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``. ``over`` defaults to 1h (1d for drift).
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import FEEDBACK_KINDS
from pellucid.monitor.repository_analytics import AGGREGATES
from pellucid.monitor.windows import parse_duration

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
    "==": op.eq,
    "!=": op.ne,
}
_PATTERN = re.compile(
    r"^\s*(?P<fn>[a-z0-9_]+)\s*\(\s*(?P<arg>[^()]*?)\s*\)\s*(?P<p>p\s*)?"
    r"(?P<op><=|>=|==|!=|<|>)\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s+over\s+(?P<over>\S+))?(?:\s+vs\s+(?P<vs>\S+))?\s*$",
    re.IGNORECASE,
)
EXAMPLES = "mean(latency_ms) > 500 over 1h; rate(feedback=thumbs_down) > 0.3 over 1d; drift(embedding) p < 0.01"
DRIFT_EMBEDDINGS = {"embedding": "prompt", "prompt_embedding": "prompt", "response_embedding": "response"}


@dataclass(frozen=True)
class Condition:
    """A parsed condition. ``kind`` is ``aggregate``, ``rate`` or ``drift``; ``metric`` is the
    store metric read (``latency_ms``, ``flag:x``...) or, for drift, the feature."""

    text: str
    kind: str
    function: str
    metric: str
    operator: str
    threshold: float
    window: timedelta
    reference: timedelta | None = None
    feedback_kind: str | None = None

    @property
    def label(self) -> str:
        """What is measured, as written: ``mean(latency_ms)``."""
        arg = f"feedback={self.feedback_kind}" if self.feedback_kind else self.metric
        if self.kind == "rate" and self.metric.startswith("flag:"):
            arg = f"flag={self.metric[5:]}"
        return f"{self.function}({arg})"

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the condition (never when there is no value)."""
        return value is not None and OPERATORS[self.operator](value, self.threshold)


def _rate_metric(arg: str) -> tuple[str, str | None]:
    key, sep, value = (s.strip() for s in arg.partition("="))
    if not sep and key in ("error", "cache_hit"):
        return key, None
    if key == "feedback" and value in FEEDBACK_KINDS:
        return "feedback", value
    if key == "flag" and value:
        return f"flag:{value}", None
    raise InvalidInputError(
        f"Unknown rate {arg!r}: use rate(feedback=KIND) with KIND in {', '.join(FEEDBACK_KINDS)}, "
        "rate(flag=NAME), rate(error) or rate(cache_hit)."
    )


def parse_condition(text: str) -> Condition:
    """Parse a condition (see the module docstring); raises with examples when it does not parse."""
    match = _PATTERN.match(text or "")
    if not match:
        raise InvalidInputError(f"Cannot read the alert condition {text!r}. Examples: {EXAMPLES}.")
    fn, arg = match["fn"].lower(), match["arg"]
    threshold = float(match["num"])
    is_drift = fn == "drift"
    if match["p"] and not is_drift:
        raise InvalidInputError(f"'p' (a p-value) only follows drift(...); in {text!r} remove it.")
    if is_drift and not match["p"]:
        raise InvalidInputError(f"A drift condition compares the p-value: write 'drift({arg}) p < 0.01', not {text!r}.")
    if match["vs"] and not is_drift:
        raise InvalidInputError(f"'vs' (a reference span) only applies to drift(...) conditions, not {text!r}.")
    window = parse_duration(match["over"] or ("1d" if is_drift else "1h"))
    if is_drift:
        if not arg:
            raise InvalidInputError(
                "drift() needs a feature: drift(embedding), drift(response_embedding), drift(latency_ms)."
            )
        reference = parse_duration(match["vs"] or "7d")
        return Condition(text.strip(), "drift", fn, arg, match["op"], threshold, window, reference)
    if fn == "rate":
        metric, kind = _rate_metric(arg)
        return Condition(text.strip(), "rate", fn, metric, match["op"], threshold, window, feedback_kind=kind)
    if fn not in AGGREGATES:
        raise InvalidInputError(
            f"Unknown function {fn!r} in {text!r}. Available: {', '.join(AGGREGATES)}, rate, drift. "
            f"Examples: {EXAMPLES}."
        )
    if not arg:
        raise InvalidInputError(f"{fn}() needs a metric name, e.g. {fn}(latency_ms).")
    return Condition(text.strip(), "aggregate", fn, arg, match["op"], threshold, window)
