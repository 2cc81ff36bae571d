"""The two windows of a drift comparison as overlaid histograms, one per scalar metric.

A drift report says *whether* a metric moved (PSI, KS); the histograms show *how*: both windows
binned on the same edges (``bins`` equal-width bins spanning both windows' values), as counts
and as shares of each window, so a reader sees a shift, a new tail or a second mode at a glance.
The windows are chosen exactly as :func:`~pellucid.monitor.drift_run.run_drift` chooses them
(the reference cut so that it holds none of the current window's records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor.drift_run import DEFAULT_SCALARS
from pellucid.monitor.windows import describe_window, drift_windows

if TYPE_CHECKING:
    from pellucid.monitor.store import Store

MAX_BINS = 200


@dataclass(frozen=True)
class MetricHistogram:
    """One metric's values in both windows, counted on shared bin ``edges`` (``len(edges) = bins + 1``)."""

    metric: str
    edges: list[float]
    reference: list[int]
    current: list[int]
    reference_n: int
    current_n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def histograms(ref: np.ndarray, cur: np.ndarray, metric: str, bins: int = 20) -> MetricHistogram:
    """Both arrays counted on ``bins`` equal-width bins over their joint range (NaN left out)."""
    if not 1 <= bins <= MAX_BINS:
        raise InvalidInputError(f"bins must be between 1 and {MAX_BINS}, got {bins}.")
    ref = ref[np.isfinite(ref)]
    cur = cur[np.isfinite(cur)]
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=bins)
    ref_counts, _ = np.histogram(ref, bins=edges)
    cur_counts, _ = np.histogram(cur, bins=edges)
    return MetricHistogram(
        metric, edges.tolist(), ref_counts.tolist(), cur_counts.tolist(), int(ref.size), int(cur.size)
    )


def window_histograms(
    store: Store, reference: str, current: str, *, metrics: Sequence[str] | None = None, bins: int = 20
) -> tuple[list[MetricHistogram], dict[str, str]]:
    """Histograms of each metric with values in both windows, and the metrics skipped (with why)."""
    ref_f, cur_f = drift_windows(reference, current)
    out: list[MetricHistogram] = []
    skipped: dict[str, str] = {}
    for metric in metrics or DEFAULT_SCALARS:
        ref_v, cur_v = store.repo.metric_values(metric, ref_f), store.repo.metric_values(metric, cur_f)
        ref_v, cur_v = ref_v[np.isfinite(ref_v)], cur_v[np.isfinite(cur_v)]
        if not ref_v.size or not cur_v.size:
            skipped[metric] = f"{ref_v.size} vs {cur_v.size} values; need some in each window"
            continue
        out.append(histograms(ref_v, cur_v, metric, bins))
    return out, skipped


def describe_windows(reference: str, current: str) -> tuple[str, str]:
    """The two windows as the comparison reads them (the reference already cut)."""
    ref_f, cur_f = drift_windows(reference, current)
    return describe_window(ref_f), describe_window(cur_f)
