"""Window aggregates, metric/feedback pairs and correlation, saved drift reports."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store
from pellucid.monitor.correlate import correlate
from tests.monitor.conftest import at


@pytest.fixture()
def rated(store: Store, make):
    rng = np.random.default_rng(3)
    latency = rng.uniform(100, 1000, size=30)
    rows = [make(latency_ms=float(v), created_at=at("2026-11-01 00:00"), model_version="v1") for v in latency]
    store.repo.insert_records(rows)
    # slow answers are disliked (with some noise); the last five records have no feedback
    for r, v in zip(rows[:25], latency[:25], strict=True):
        kind = "thumbs_down" if v + rng.normal(0, 150) > 550 else "thumbs_up"
        store.repo.add_feedback(r.id, kind)
    store.repo.add_metrics([(r.id, "perplexity", float(i)) for i, r in enumerate(rows)])
    return rows, latency


def test_aggregates_match_numpy(store: Store, rated) -> None:
    _, latency = rated
    f = RecordFilter(model_version="v1")
    assert store.analytics.aggregate("latency_ms", "mean", f)[0] == pytest.approx(latency.mean())
    assert store.analytics.aggregate("latency_ms", "max", f) == (pytest.approx(latency.max()), 30)
    assert store.analytics.aggregate("latency_ms", "p95", f)[0] == pytest.approx(np.percentile(latency, 95))
    assert store.analytics.aggregate("latency_ms", "count", f) == (30.0, 30)
    assert store.analytics.aggregate("latency_ms", "mean", RecordFilter(model_version="v9")) == (None, 0)
    with pytest.raises(InvalidInputError, match="Unknown aggregation"):
        store.analytics.aggregate("latency_ms", "median")


def test_correlation_with_feedback_is_spearman_of_the_pairs(store: Store, rated) -> None:
    rows, latency = rated
    ids, values, ratings = store.analytics.metric_feedback_pairs("latency_ms")
    by_id = {r.id: v for r, v in zip(rows, latency, strict=True)}
    assert sorted(ids) == sorted(r.id for r in rows[:25])  # only rated records
    assert values == pytest.approx([by_id[i] for i in ids])
    result = correlate(store, "latency_ms")
    expected = spearmanr(values, ratings)
    assert result.n == 25 and result.spearman == pytest.approx(expected.statistic)
    assert result.spearman < 0 and result.binary and "thumbs-down" in result.verdict
    with pytest.raises(InvalidInputError, match="itself"):
        correlate(store, "feedback")


def test_saved_drift_reports(store: Store) -> None:
    saved = store.reports.save_drift_report("last:7d", "version:v2", {"drifted": True, "verdict": "x", "results": []})
    second = store.reports.save_drift_report("a", "b", {"drifted": False, "verdict": "y", "results": [1.5]})
    assert [r.id for r in store.reports.list_drift_reports()] == [second.id, saved.id]
    got = store.reports.get_drift_report(saved.id)
    assert got.drifted and got.reference == "last:7d" and got.report["results"] == []
    assert "report" not in got.to_dict(with_report=False)
