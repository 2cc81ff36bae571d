"""Does a metric go with what users liked? Correlation between a per-record metric and feedback.

Each record with both a value of ``metric`` (any chartable metric: ``latency_ms``,
``perplexity``, ``response_chars``, a custom enrichment) and thumbs/score feedback gives one
pair; a record's rating is the mean of its feedback values (thumbs up 1, down −1). The figures
are those of :func:`pellucid.monitor.metrics.correlation_with_feedback`: Spearman's ρ, and the
point-biserial r when feedback is only thumbs up/down.
"""

from __future__ import annotations

from typing import Any

from pellucid.monitor.metrics import FeedbackCorrelation, correlation_with_feedback
from pellucid.monitor.records import RecordFilter


def correlate(
    store: Any, metric: str, filter: RecordFilter | None = None, *, alpha: float = 0.05
) -> FeedbackCorrelation:
    """Correlation of ``metric`` with feedback over the filtered records."""
    _, values, ratings = store.analytics.metric_feedback_pairs(metric, filter)
    return correlation_with_feedback(values.tolist(), ratings.tolist(), metric=metric, alpha=alpha)
