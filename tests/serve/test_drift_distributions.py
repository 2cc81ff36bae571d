"""GET /api/drift/distributions: both windows of a drift comparison binned on shared edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi.testclient import TestClient

from pellucid.monitor import NewRecord
from pellucid.monitor.drift_histograms import histograms


def test_histograms_share_edges_and_count_every_value():
    h = histograms(np.array([0.0, 1.0, 1.0, 4.0]), np.array([3.0, 4.0, np.nan]), "x", bins=4)
    assert h.edges == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert h.reference == [1, 2, 0, 1] and h.current == [0, 0, 0, 2]  # the last bin holds its right edge
    assert (h.reference_n, h.current_n) == (4, 2)
    same = histograms(np.array([2.0, 2.0]), np.array([2.0]), "y", bins=2)
    assert same.reference == [0, 2] and same.current == [0, 1] and len(same.edges) == 3


def test_route_bins_both_windows(app):
    store = app.state.pellucid.monitor.store
    now = datetime.now(UTC)
    batch = [
        NewRecord(
            prompt=f"p{i}",
            response="r",
            model_version="v1" if i < 6 else "v2",
            latency_ms=float(i * 10),
            created_at=now - timedelta(minutes=i),
        )  # fmt: skip
        for i in range(10)
    ]
    store.repo.insert_records(batch)
    with TestClient(app) as client:
        params = {"reference": "version:v1", "current": "version:v2", "metric": ["latency_ms", "toxicity"], "bins": 3}
        res = client.get("/api/drift/distributions", params=params).json()
        (latency,) = res["metrics"]
        assert latency["edges"] == [0.0, 30.0, 60.0, 90.0]
        assert latency["reference"] == [3, 3, 0] and latency["current"] == [0, 0, 4]
        assert "toxicity" in res["skipped"] and "v1" in res["reference"]
        bad = client.get("/api/drift/distributions", params={"reference": "nonsense", "current": "version:v2"})
        assert bad.status_code == 422
