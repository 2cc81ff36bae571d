"""``POST /v1/traces``: spans from a real instrumented application become records; bad payloads are refused.

The application is the official ``openai`` SDK instrumented with
``opentelemetry-instrumentation-openai-v2`` and exported with ``opentelemetry-sdk``'s OTLP/HTTP
exporter (protobuf, gzip), calling a stub OpenAI-compatible server on loopback; Pellucid runs
in a real uvicorn. OpenInference spans are sent as OTLP/JSON written by hand.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from tests.support.loopback import serving
from tests.support.openai_stub import TEXT, stub_app

TRACE = "5b8efff798038103d269b633813fc60c"


@dataclass
class Receiver:
    url: str
    app: Any
    store: Store

    def records(self) -> list[StoredRecord]:
        assert self.app.state.pellucid.monitor.flush(timeout=30)
        items = self.store.repo.list_records(RecordFilter(), limit=100, oldest_first=True).items
        return [self.store.repo.get_record(r.id) for r in items]

    def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/traces", content=body, headers={"Content-Type": content_type, **headers})


@pytest.fixture
def receiver(settings, tmp_path) -> Iterator[Receiver]:
    store = Store.open(f"sqlite:///{tmp_path / 'otlp.db'}")
    app = create_app(settings, ModelPool(settings), store)
    try:
        with serving(app) as url:
            yield Receiver(url, app, store)
    finally:
        store.close()


def test_instrumented_openai_app_exports_spans_that_become_records(receiver, monkeypatch):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", compression=Compression.Gzip)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("rag-app")
    try:
        with serving(stub_app()) as stub_url:
            client = openai.OpenAI(base_url=f"{stub_url}/v1", api_key="unused", max_retries=0)
            with tracer.start_as_current_span("answer-question") as root:
                with tracer.start_as_current_span("retrieve") as retrieval:
                    retrieval.set_attribute("gen_ai.operation.name", "retrieval")
                    docs = [{"id": "d1", "content": "Paris is the capital of France."}]
                    retrieval.set_attribute("gen_ai.retrieval.documents", json.dumps(docs))
                client.chat.completions.create(
                    model="ok", messages=[{"role": "user", "content": "Capital of France?"}], temperature=0.2
                )
            trace_id = format(root.get_span_context().trace_id, "032x")
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    [record] = receiver.records()
    assert record.trace_id == trace_id and record.tags == ("otlp",)
    assert record.prompt == [{"role": "user", "content": "Capital of France?"}]
    assert record.response == TEXT and record.model == "ok-v1"
    assert (record.prompt_tokens, record.completion_tokens) == (7, 4)
    assert record.params["temperature"] == pytest.approx(0.2) and record.params["chat"] is True
    assert record.latency_ms is not None and record.latency_ms > 0
    assert record.parent_span_id is not None and len(record.span_id or "") == 16
    otel = record.metadata["otel"]
    assert otel["service"] == "rag-app" and otel["operation"] == "chat" and otel["finish_reason"] == "stop"
    # spans are exported as they end: the retrieval (ended before the call) is attached, the root is not
    assert [s["name"] for s in otel["context_spans"]] == ["retrieve"]
    assert record.metadata["context"] == "Paris is the capital of France."


def _kv(key: str, value: Any) -> dict[str, Any]:
    kind = "intValue" if isinstance(value, int) else "stringValue"
    return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}


def _span(span_id: str, attrs: dict[str, Any], *, parent: str | None = None, name: str = "llm") -> dict[str, Any]:
    span = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": "1764900000000000000",
        "endTimeUnixNano": "1764900000250000000",
        "attributes": [_kv(k, v) for k, v in attrs.items()],
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _export(*spans: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": list(spans)}]}]}).encode()


OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Hi",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Hello!",
    "llm.token_count.prompt": 12,
    "llm.token_count.completion": 3,
    "session.id": "conv-9",
    "user.id": "ann",
}
RETRIEVER = {
    "openinference.span.kind": "RETRIEVER",
    "retrieval.documents.0.document.content": "Doc one.",
    "retrieval.documents.1.document.content": "Doc two.",
}


def test_openinference_json_gzip_with_a_partly_bad_batch(receiver):
    body = _export(
        _span("00f067aa0ba902b7", OPENINFERENCE, parent="00f067aa0ba902b8"),
        _span("00f067aa0ba902b8", RETRIEVER, name="retriever"),
        _span("00f067aa0ba902b9", {"openinference.span.kind": "LLM", "input.value": "no model"}, name="nomodel"),
    )
    res = receiver.post(gzip.compress(body), "application/json", **{"Content-Encoding": "gzip"})
    assert res.status_code == 200
    partial = res.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "'nomodel'" in partial["errorMessage"]
    assert "has no model" in partial["errorMessage"]
    [record] = receiver.records()
    assert record.prompt == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert record.response == "Hello!" and record.model == "gpt-4o-mini"
    assert (record.prompt_tokens, record.completion_tokens) == (12, 3)
    assert record.session_id == "conv-9" and record.user_id == "ann" and record.trace_id == TRACE
    assert record.latency_ms == pytest.approx(250.0, rel=1e-6)
    assert record.metadata["context"] == "Doc one.\n\nDoc two."

    again = receiver.post(body, "application/json")  # an exporter's retry: stored once
    assert again.status_code == 200 and len(receiver.records()) == 1


def test_protobuf_answer_in_protobuf(receiver):
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    tree = json.loads(_export(_span("00f067aa0ba902b7", OPENINFERENCE)))
    span = tree["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId"):  # protobuf's own JSON mapping writes bytes as base64
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    message = json_format.ParseDict(tree, ExportTraceServiceRequest())
    res = receiver.post(message.SerializeToString(), "application/x-protobuf")
    assert res.status_code == 200 and res.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(res.content)
    assert answer.partial_success.rejected_spans == 0
    [record] = receiver.records()
    assert record.trace_id == TRACE and record.span_id == "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "words"),
    [
        (b"{}", "text/plain", {}, ["'text/plain'", "application/x-protobuf"]),
        (b"\x0a\x05\x0a\x03", "application/x-protobuf", {}, ["cannot be decoded", "truncated"]),
        (gzip.compress(b"{}")[:-6], "application/json", {"Content-Encoding": "gzip"}, ["gzip"]),
        (b"{}", "application/json", {"Content-Encoding": "br"}, ["'br'", "gzip"]),
        (b"[1, 2", "application/json", {}, ["not valid JSON"]),
        (b"[]", "application/json", {}, ["is a list", "resourceSpans"]),
        (b'{"resourceSpans": 5}', "application/json", {}, ["not an OTLP trace export"]),
        (_export(_span("zz", OPENINFERENCE)), "application/json", {}, ["'zz'", "not hex"]),
        (
            _export(_span("00f067aa0ba902b7", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})),
            "application/json",
            {},
            ["no prompt or response content", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"],
        ),
    ],
)
def test_malformed_payloads_are_400_and_store_nothing(receiver, body, content_type, headers, words):
    res = receiver.post(body, content_type, **headers)
    assert res.status_code == 400
    message = res.json()["error"]["message"]
    assert all(w in message for w in words), message
    assert receiver.records() == []


def test_genai_span_events_of_the_older_conventions(receiver):
    events = [
        {
            "timeUnixNano": "1764900000000000001",
            "name": "gen_ai.system.message",
            "attributes": [_kv("content", "Be kind.")],
        },
        {"timeUnixNano": "1764900000000000002", "name": "gen_ai.user.message", "attributes": [_kv("content", "Hi")]},
        {
            "timeUnixNano": "1764900000000000003",
            "name": "gen_ai.choice",
            "attributes": [
                _kv("message", json.dumps({"role": "assistant", "content": "Hello"})),
                _kv("finish_reason", "stop"),
            ],
        },
    ]
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 9,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.conversation.id": "c-1",
    }
    span = _span("00f067aa0ba902b7", attrs, name="chat gpt-4o")
    span["events"] = events
    span["status"] = {"code": 2, "message": "boom"}
    assert receiver.post(_export(span), "application/json").status_code == 200
    [record] = receiver.records()
    assert record.prompt == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    assert record.response == "Hello" and record.model == "gpt-4o" and record.session_id == "c-1"
    assert (record.prompt_tokens, record.completion_tokens) == (9, 2) and record.error == "boom"
    assert record.metadata["otel"] == {
        "span_name": "chat gpt-4o",
        "operation": "chat",
        "finish_reason": "stop",
        "system": "openai",
    }
