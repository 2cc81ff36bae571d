"""``/api/projection`` points carry what the projector colours by: model, version, flags, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pellucid.monitor import NewRecord, Store
from pellucid.monitor.enrich import MARKER
from pellucid.monitor.projection import projection
from pellucid.serve.routers import analytics
from pellucid.serve.state import AppState, install


@pytest.fixture()
def store(tmp_path):
    opened = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    yield opened
    opened.close()


@pytest.fixture()
def seeded(store: Store) -> list[NewRecord]:
    rng = np.random.default_rng(0)
    rows = [
        NewRecord(
            prompt=f"question {i}",
            response=f"answer {i}",
            model="model-a" if i % 2 else "model-b",
            model_version="v1" if i < 6 else "v2",
            latency_ms=100.0 + i,
            prompt_tokens=5 + i,
            flags={"empty_response": "no text"} if i == 3 else {},
        )
        for i in range(10)
    ]
    store.repo.insert_records(rows)
    store.repo.add_embeddings([(r.id, "prompt", "enc", rng.normal(size=8)) for r in rows])
    metrics = [(r.id, "perplexity", 5.0 + i / 2) for i, r in enumerate(rows)]
    metrics += [(rows[0].id, "toxicity", 0.75), (rows[0].id, MARKER, 1.0), (rows[1].id, "toxicity", None)]
    store.repo.add_metrics(metrics)
    return rows


def test_points_carry_version_model_flags_and_metrics(store: Store, seeded) -> None:
    app = FastAPI()
    install(app, AppState(store=store))
    app.include_router(analytics.router, prefix="/api")
    with TestClient(app) as client:
        data = client.get("/api/projection", params={"clusters": 2}).json()
    points = {p["id"]: p for p in data["points"]}
    assert len(points) == 10
    for i, record in enumerate(seeded):
        point = points[record.id]
        assert point["model"] == ("model-a" if i % 2 else "model-b")
        assert point["model_version"] == ("v1" if i < 6 else "v2")
        assert point["flags"] == (["empty_response"] if i == 3 else [])
        assert point["metrics"]["latency_ms"] == 100.0 + i and point["metrics"]["prompt_tokens"] == 5 + i
        assert point["metrics"]["perplexity"] == pytest.approx(5.0 + i / 2)
        assert "completion_tokens" not in point["metrics"]  # not logged: left out, not null
        assert MARKER not in point["metrics"]  # the enrichment's bookkeeping is not a metric
        assert point["cluster"] in (0, 1) and point["text"] == f"question {i}"
    assert points[seeded[0].id]["metrics"]["toxicity"] == 0.75 and "toxicity" not in points[seeded[1].id]["metrics"]


def test_the_library_keeps_its_plain_points_unless_asked(store: Store, seeded) -> None:
    assert projection(store, clusters=None).to_dict()["points"][0].keys() == {"id", "x", "y", "cluster", "text"}
    rich = projection(store, clusters=None, with_fields=True).to_dict()["points"][0]
    assert {"model", "model_version", "flags", "metrics"} <= rich.keys()
