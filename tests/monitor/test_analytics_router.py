"""The analytics router on a bare FastAPI app with an ``AppState`` holding the store."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pellucid.monitor import Store
from pellucid.monitor.eval_data import EvalDataset, EvalItem
from pellucid.monitor.evaluation import evaluate
from pellucid.monitor.records import utcnow
from pellucid.serve.routers import analytics
from pellucid.serve.state import AppState, install
from pellucid.service import ModelPool


@pytest.fixture()
def client(store: Store):
    app = FastAPI()
    install(app, AppState(store=store))
    app.include_router(analytics.router, prefix="/api")
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def traffic(store: Store, make):
    rng = np.random.default_rng(0)
    now = utcnow()
    rows = [
        make(
            prompt=f"q{i}",
            latency_ms=float(100 + i),
            model_version="v1" if i < 20 else "v2",
            created_at=now - timedelta(minutes=40 - i),
        )
        for i in range(40)
    ]
    store.repo.insert_records(rows)
    store.repo.add_embeddings(
        [(r.id, "prompt", "enc", rng.normal(size=8) + (2.0 if i >= 20 else 0.0)) for i, r in enumerate(rows)]
    )
    return rows


def test_metrics_and_series(client, traffic) -> None:
    assert "latency_ms" in client.get("/api/metrics").json()
    points = client.get(
        "/api/metrics/series", params={"metric": "latency_ms", "bucket": 86400 * 7, "group_by": "model_version"}
    ).json()
    by_group = {}
    for p in points:
        by_group.setdefault(p["group"], []).append(p)
    assert sum(p["count"] for p in by_group["v1"]) == 20
    bad = client.get("/api/metrics/series", params={"metric": "latency_ms", "window": "last:3x"})
    assert bad.status_code == 422 and "duration" in bad.json()["error"]["message"]


def test_drift_run_list_get(client, traffic) -> None:
    res = client.post(
        "/api/drift/reports",
        json={"reference": "version:v1", "current": "version:v2", "metrics": ["latency_ms"], "n_permutations": 100},
    )
    assert res.status_code == 200, res.text
    report = res.json()
    assert report["drifted"] and report["id"]
    listed = client.get("/api/drift/reports").json()
    assert [r["id"] for r in listed] == [report["id"]] and "report" not in listed[0]
    got = client.get(f"/api/drift/reports/{report['id']}").json()
    assert got["report"]["results"][0]["feature"] == "prompt embeddings"
    assert client.get("/api/drift/reports/0192f0c4-0000-7000-8000-000000000000").status_code == 404


def test_alert_crud_check_history(client, traffic) -> None:
    res = client.post("/api/alerts/rules", json={"name": "slow", "condition": "max(latency_ms) > 130 over 1h"})
    assert res.status_code == 201, res.text
    assert (
        client.post("/api/alerts/rules", json={"name": "slow", "condition": "max(latency_ms) > 1"}).status_code == 422
    )
    bad = client.post("/api/alerts/rules", json={"name": "x", "condition": "latency > 1"})
    assert bad.status_code == 422 and "Examples" in bad.json()["error"]["message"]
    cmd = client.post(
        "/api/alerts/rules",
        json={"name": "c", "condition": "max(latency_ms) > 1", "action": "command", "target": "touch /tmp/x"},
    )
    assert cmd.status_code == 403
    checked = client.post("/api/alerts/check").json()
    assert checked[0]["fired"] and checked[0]["value"] == 139.0
    events = client.get("/api/alerts/events", params={"rule": "slow"}).json()
    assert len(events) == 1 and events[0]["delivery_status"] == "no_action"
    assert client.patch("/api/alerts/rules/slow", json={"enabled": False}).json()["enabled"] is False
    assert client.get("/api/alerts/rules").json()[0]["state"] == "firing"
    assert client.delete("/api/alerts/rules/slow").status_code == 204
    assert client.get("/api/alerts/rules/slow").status_code == 404


def test_eval_runs(client, store: Store) -> None:
    items = [EvalItem(1, "p1", "the cat", "the cat"), EvalItem(2, "p2", "a dog", "dog")]
    a = evaluate(EvalDataset("d.jsonl", items), "exact_match,chrf", name="a")
    b = evaluate(EvalDataset("d.jsonl", [EvalItem(1, "p1", "the cat", "cat"), items[1]]), "exact_match", name="b")
    store.evals.insert_eval_run(a)
    store.evals.insert_eval_run(b)
    assert [r["name"] for r in client.get("/api/evals").json()] == ["b", "a"]
    got = client.get("/api/evals/a").json()
    assert got["results"]["exact_match"]["aggregate"] == 1.0 and len(got["examples"]) == 2
    cmp = client.get("/api/evals/compare", params={"a": "a", "b": b.id}).json()
    rows = {r["metric"]: r for r in cmp["metrics"]}
    assert rows["exact_match"]["diff"] == 0.0 and rows["chrf"]["b"] is None
    assert client.get("/api/evals/nope").status_code == 404


def test_projection_and_correlation(client, store: Store, traffic) -> None:
    data = client.get("/api/projection", params={"clusters": 2}).json()
    assert len(data["points"]) == 40 and {p["cluster"] for p in data["points"]} == {0, 1}
    labels = {p["id"]: p["cluster"] for p in data["points"]}
    assert len({labels[r.id] for r in traffic[:20]}) == 1  # the two planted groups are the two clusters
    assert client.get("/api/projection", params={"method": "umap"}).status_code in (200, 422)
    for i, r in enumerate(traffic[:10]):
        store.repo.add_feedback(r.id, "thumbs_up" if i < 5 else "thumbs_down")
    corr = client.get("/api/correlation", params={"metric": "latency_ms"}).json()
    assert corr["n"] == 10 and corr["spearman"] < 0


def test_explain_record_route(client, store: Store, make, tiny_lm, settings) -> None:
    pool = ModelPool(settings)
    pool.add(tiny_lm, name="tiny")
    client.app.state.pellucid.models = pool
    record = make(prompt="What is the capital of France?", response=" Paris.", model="tiny")
    store.repo.insert_records([record])
    res = client.post(f"/api/records/{record.id}/explanation", json={"method": "occlusion"})
    assert res.status_code == 200, res.text
    assert res.json()["meta"]["target_token_ids"] == tiny_lm.encode_target(" Paris.")


def test_no_store_is_503() -> None:
    app = FastAPI()
    install(app, AppState(store=None))
    app.include_router(analytics.router, prefix="/api")
    res = TestClient(app).get("/api/alerts/rules")
    assert res.status_code == 503 and "store" in res.json()["error"]["message"]


def test_window_summary_and_bucket_percentiles(client, store: Store) -> None:
    """The monitor's summary cards and the latency chart's p50/p95, on known numbers."""
    from datetime import UTC, datetime, timedelta

    from pellucid.monitor import NewRecord

    at = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)
    store.repo.insert_records(
        [
            NewRecord(prompt=f"q{i}", response="a", latency_ms=float(10 * (i + 1)), ttft_ms=float(i + 1), created_at=at)
            for i in range(20)
        ]
        + [NewRecord(prompt="bad", response=None, error="boom", latency_ms=5.0, created_at=at)]
    )
    summary = client.get("/api/metrics/summary", params={"window": "last:1d"}).json()
    assert summary["records"] == 21 and summary["errors"] == 1
    assert summary["error_rate"] == pytest.approx(1 / 21)
    latencies = [5.0, *(10.0 * (i + 1) for i in range(20))]
    assert summary["latency_ms_p50"] == pytest.approx(float(np.percentile(latencies, 50)))
    assert summary["latency_ms_p95"] == pytest.approx(float(np.percentile(latencies, 95)))
    assert summary["ttft_ms_p50"] == pytest.approx(10.5) and summary["ttft_ms_p95"] == pytest.approx(19.05)
    points = client.get(
        "/api/metrics/series", params={"metric": "latency_ms", "bucket": 3600, "window": "last:1d", "percentiles": True}
    ).json()
    assert len(points) == 1 and points[0]["p50"] == pytest.approx(summary["latency_ms_p50"])
    assert points[0]["p95"] == pytest.approx(summary["latency_ms_p95"]) and points[0]["p95"] > points[0]["mean"]
    plain = client.get("/api/metrics/series", params={"metric": "latency_ms", "window": "last:1d"}).json()
    assert plain[0]["p50"] is None
    empty = client.get("/api/metrics/summary", params={"window": "version:nothing"}).json()
    assert empty == {**empty, "records": 0, "errors": 0, "error_rate": None, "latency_ms_p95": None}
