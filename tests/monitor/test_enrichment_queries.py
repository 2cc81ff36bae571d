"""Metrics, embeddings and time series over them, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, RecordNotFoundError, Store, new_id
from tests.monitor.conftest import at


@pytest.fixture()
def timeline(store: Store, make):
    """Two versions over three hours; perplexity stored as a metric; one record per 20 minutes."""
    rows = []
    for i in range(9):
        rows.append(
            make(
                response="x" * (i + 1),
                model_version="v1" if i % 2 == 0 else "v2",
                latency_ms=float(10 * i),
                cache_hit=i < 3,
                flags={"empty_prompt": "e"} if i in (0, 4) else {},
                # 1 ms before 00:20, 00:40, 01:00...: buckets must truncate, never round
                created_at=at("2026-04-01 00:20") + timedelta(minutes=20 * i, milliseconds=-1),
            )
        )
    rows[-1].created_at = at("2026-04-01 02:00")  # exactly on an edge
    store.repo.insert_records(rows)
    store.repo.add_metrics([(r.id, "perplexity", float(i)) for i, r in enumerate(rows)])
    return rows


def test_series_of_a_builtin_metric_in_hour_buckets(store: Store, timeline) -> None:
    points = store.repo.metric_series("latency_ms", bucket=timedelta(hours=1))
    assert [p.bucket_start for p in points] == [datetime(2026, 4, 1, h, tzinfo=UTC) for h in (0, 1, 2)]
    assert [p.count for p in points] == [3, 3, 3]
    # 00:19:59.999, 00:39:59.999 and 00:59:59.999 fall in hour 0
    assert points[0].mean == pytest.approx((0 + 10 + 20) / 3)
    assert points[0].min == 0 and points[0].max == 20


def test_series_grouped_by_version_from_the_metrics_table(store: Store, timeline) -> None:
    points = store.repo.metric_series("perplexity", bucket=3 * 3600, group_by="model_version")
    assert [(p.group, p.count) for p in points] == [("v1", 5), ("v2", 4)]
    v1 = points[0]
    assert v1.mean == pytest.approx((0 + 2 + 4 + 6 + 8) / 5)


def test_series_rates_and_filters(store: Store, timeline) -> None:
    (flag,) = store.repo.metric_series("flag:empty_prompt", bucket=86400)
    assert flag.count == 9 and flag.mean == pytest.approx(2 / 9)
    (cache,) = store.repo.metric_series("cache_hit", bucket=86400)
    assert cache.mean == pytest.approx(3 / 9)
    (chars,) = store.repo.metric_series("response_chars", bucket=86400, filter=RecordFilter(model_version="v2"))
    assert chars.mean == pytest.approx((2 + 4 + 6 + 8) / 4)
    (count,) = store.repo.metric_series("records", bucket=86400)
    assert count.count == 9


def test_feedback_metric(store: Store, timeline) -> None:
    store.repo.add_feedback(timeline[0].id, "thumbs_up")
    store.repo.add_feedback(timeline[1].id, "thumbs_down")
    store.repo.add_feedback(timeline[2].id, "thumbs_up")
    store.repo.add_feedback(timeline[2].id, "comment", comment="c")
    (point,) = store.repo.metric_series("feedback", bucket=86400)
    assert point.count == 3 and point.mean == pytest.approx(1 / 3)


def test_metric_values_and_names(store: Store, timeline) -> None:
    values = store.repo.metric_values("perplexity", RecordFilter(model_version="v2"))
    assert values.tolist() == [1.0, 3.0, 5.0, 7.0]
    assert store.repo.metric_values("unknown_metric").size == 0
    names = store.repo.metric_names()
    assert names[0] == "latency_ms" and "perplexity" in names


def test_metrics_upsert_and_missing(store: Store, timeline) -> None:
    store.repo.add_metrics([(timeline[0].id, "perplexity", 42.0), (timeline[0].id, "entropy", float("nan"))])
    got = store.repo.get_record(timeline[0].id)
    assert got.metrics == {"perplexity": 42.0, "entropy": None}
    assert [r.id for r in store.repo.missing_metric("entropy", limit=3)] == [r.id for r in timeline[1:4]]
    with pytest.raises(RecordNotFoundError):
        store.repo.add_metrics([(new_id(), "perplexity", 1.0)])


def test_bad_series_arguments(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="group by"):
        store.repo.metric_series("latency_ms", group_by="user_id")
    with pytest.raises(InvalidInputError, match="second"):
        store.repo.metric_series("latency_ms", bucket=0)
    with pytest.raises(InvalidInputError, match="flag name"):
        store.repo.metric_series("flag:")


def test_embeddings_round_trip(store: Store, make) -> None:
    rows = [
        make(model_version="v1" if i < 3 else "v2", created_at=at("2026-01-01 00:00") + timedelta(minutes=i))
        for i in range(5)
    ]
    store.repo.insert_records(rows)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 8)).astype(np.float32)
    store.repo.add_embeddings([(r.id, "prompt", "minilm", v) for r, v in zip(rows, vectors, strict=True)])
    ids, matrix = store.repo.get_embeddings("prompt", filter=RecordFilter(model_version="v2"))
    assert ids == [rows[3].id, rows[4].id]
    np.testing.assert_array_equal(matrix, vectors[3:])
    # recomputing replaces
    store.repo.add_embeddings([(rows[0].id, "prompt", "minilm", np.zeros(8))])
    _, matrix = store.repo.get_embeddings("prompt", model="minilm")
    assert matrix.shape == (5, 8) and not matrix[0].any()
    assert [r.id for r in store.repo.missing_embedding("response", "minilm", limit=2)] == [rows[0].id, rows[1].id]
    store.repo.add_embeddings([(rows[0].id, "prompt", "other", np.ones(3))])
    with pytest.raises(InvalidInputError, match="pass model"):
        store.repo.get_embeddings("prompt")
    with pytest.raises(InvalidInputError, match="'prompt' or 'response'"):
        store.repo.add_embeddings([(rows[0].id, "title", "minilm", np.ones(3))])
    ids, empty = store.repo.get_embeddings("response", model="minilm")
    assert ids == [] and empty.shape == (0, 0)
