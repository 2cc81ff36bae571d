"""``GET /api/traces`` and ``GET /api/traces/{id}``: OTLP spans grouped by trace, as a timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pellucid.monitor import Store
from pellucid.serve.app import create_app
from pellucid.service import ModelPool

TRACE_A = "5b8efff798038103d269b633813fc60c"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"
BASE_NS = 1_764_900_000_000_000_000


def _span(
    trace: str, span: str, name: str, start_ms: int, end_ms: int, attrs: dict[str, Any], parent: str | None = None
) -> dict[str, Any]:  # noqa: E501
    out: dict[str, Any] = {
        "traceId": trace, "spanId": span, "name": name, "kind": 1,
        "startTimeUnixNano": str(BASE_NS + start_ms * 1_000_000), "endTimeUnixNano": str(BASE_NS + end_ms * 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }  # fmt: skip
    if parent:
        out["parentSpanId"] = parent
    return out


def llm(question: str, answer: str, session: str) -> dict[str, str]:
    return {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "input.value": question,
            "output.value": answer, "session.id": session}  # fmt: skip


def export(*spans: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": list(spans)}]}]}).encode()


@pytest.fixture
def client(settings, tmp_path) -> Iterator[TestClient]:
    store = Store.open(f"sqlite:///{tmp_path / 'traces.db'}")
    app = create_app(settings, ModelPool(settings), store)
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        store.close()


def _send(client: TestClient, body: bytes) -> None:
    res = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
    assert res.status_code == 200, res.text
    assert client.app.state.pellucid.monitor.flush(timeout=30)  # type: ignore[attr-defined]


def test_traces_are_listed_and_one_is_a_timeline(client):
    retrieval = {"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "Doc."}
    _send(client, export(
        _span(TRACE_A, "00000000000000a1", "handle-request", 0, 1000, {}),
        _span(TRACE_A, "00000000000000a2", "retrieve", 100, 200, retrieval, parent="00000000000000a1"),
        _span(TRACE_A, "00000000000000a3", "llm", 250, 750, llm("Hi?", "Hello!", "conv-1"), parent="00000000000000a1"),
        _span(TRACE_A, "00000000000000a4", "llm", 800, 950, llm("More?", "Sure.", "conv-1"), parent="00000000000000a1"),
    ))  # fmt: skip
    _send(client, export(_span(TRACE_B, "00000000000000b1", "llm", 5000, 5100, llm("Other", "Yes", "conv-2"))))
    listed = client.get("/api/traces").json()
    assert [t["trace_id"] for t in listed] == [TRACE_B, TRACE_A]  # newest first
    second = listed[1]
    assert (second["calls"], second["errors"], second["models"], second["session_id"]) == (
        2,
        0,
        ["gpt-4o-mini"],
        "conv-1",
    )
    assert [t["trace_id"] for t in client.get("/api/traces", params={"session_id": "conv-2"}).json()] == [TRACE_B]

    detail = client.get(f"/api/traces/{TRACE_A}").json()
    assert detail["session_id"] == "conv-1" and detail["duration_ms"] == pytest.approx(1000, rel=1e-6)
    spans = {s["span_id"]: s for s in detail["spans"]}
    assert [s["name"] for s in detail["spans"]] == ["handle-request", "retrieve", "llm", "llm"]  # by start time
    root, fetch, first = spans["00000000000000a1"], spans["00000000000000a2"], spans["00000000000000a3"]
    assert (root["kind"], root["depth"]) == ("context", 0) and root["end_ms"] - root["start_ms"] == pytest.approx(1000)
    assert (fetch["kind"], fetch["operation"], fetch["depth"]) == ("context", "RETRIEVER", 1)
    assert fetch["start_ms"] == pytest.approx(100, rel=1e-6)
    assert first["kind"] == "llm" and first["depth"] == 1 and first["record_id"]
    assert first["start_ms"] == pytest.approx(250, rel=1e-6) and first["end_ms"] == pytest.approx(750, rel=1e-6)
    assert first["prompt"] == "Hi?" and first["response"] == "Hello!" and first["model"] == "gpt-4o-mini"
    record = client.get(f"/api/records/{first['record_id']}").json()
    assert record["prompt_text"] == "Hi?" and record["response"] == "Hello!"  # one click from span to record


def test_an_unknown_trace_is_a_404_saying_where_traces_come_from(client):
    res = client.get("/api/traces/ffffffffffffffffffffffffffffffff")
    assert res.status_code == 404 and "POST /v1/traces" in res.json()["error"]["message"]
    assert client.get("/api/traces").json() == []
