"""Monitor → Traces: a trace sent over OTLP opens as a timeline, and one click on an LLM span's
"Explain" shows the heat map of that call's logged response."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = [pytest.mark.e2e]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BASE_NS = 1_764_900_000_000_000_000


def _span(span_id: str, name: str, start_ms: int, end_ms: int, attrs: dict[str, str], parent: str | None = None):
    span = {
        "traceId": TRACE, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": str(BASE_NS + start_ms * 1_000_000), "endTimeUnixNano": str(BASE_NS + end_ms * 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }  # fmt: skip
    if parent:
        span["parentSpanId"] = parent
    return span


@pytest.fixture(scope="module")
def traced(server):
    llm = {"openinference.span.kind": "LLM", "llm.model_name": server.tiny, "session.id": "e2e-session",
           "input.value": "What is the capital of France?", "output.value": "Paris is the capital."}  # fmt: skip
    retrieval = {
        "openinference.span.kind": "RETRIEVER",
        "retrieval.documents.0.document.content": "Paris is in France.",
    }
    spans = [
        _span("00000000000000c1", "answer-question", 0, 900, {}),
        _span("00000000000000c2", "retrieve", 50, 150, retrieval, parent="00000000000000c1"),
        _span("00000000000000c3", "chat", 200, 800, llm, parent="00000000000000c1"),
    ]
    body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
    res = httpx.post(f"{server.url}/v1/traces", content=body, headers={"Content-Type": "application/json"})
    assert res.status_code == 200, res.text
    server.flush()
    return TRACE


def test_open_a_trace_and_explain_its_llm_span(page, traced):
    page.goto("/#monitor/traces")
    session = page.locator("#trace-list .trace-session", has_text="e2e-session")
    session.locator(f"[data-trace='{traced}']").click()
    rows = page.locator("#trace-timeline .span-row")
    rows.first.wait_for()
    assert rows.count() == 3
    assert rows.evaluate_all("els => els.map(e => e.classList.contains('llm'))") == [False, False, True]
    bars = page.locator("#trace-timeline .span-bar")
    lefts = bars.evaluate_all("els => els.map(e => parseFloat(e.style.left))")
    assert lefts[0] < lefts[1] < lefts[2]  # placed by start time: 0, 50 and 200 ms of 900
    page.locator("#trace-timeline .span-row.llm .span-explain").click()  # the one click
    view = page.locator("#record-explanation .token-view")
    view.wait_for(timeout=90_000)
    assert page.locator("#record-explanation .heatmap").get_attribute("data-axes") == "target,input"
    assert page.locator("#record-explanation .tok[data-score]:not([data-score=''])").count() >= 3
    assert "Paris is the capital." in page.inner_text("#record-response")
