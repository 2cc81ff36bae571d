"""OpenTelemetry out: logged calls arrive as GenAI spans at a real OTLP receiver on loopback.

Two receivers: a small one decoding with ``opentelemetry-proto`` (it can also answer 503 on
demand, to exercise retries), and Pellucid's own ``/v1/traces`` in a second app, for the round
trip record -> span -> record.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.monitor.records import as_utc
from pellucid.monitor.sdk import make_record
from pellucid.serve.app import create_app
from pellucid.serve.otlp_export import OtlpExporter, parse_headers
from pellucid.service import ModelPool
from pellucid.settings import Settings
from tests.serve.conftest import make_gateway
from tests.support.loopback import free_port, serving
from tests.support.openai_stub import TEXT, stub_app


@dataclass
class Sink:
    """What the small receiver saw: decoded requests, their headers, and 503s still to answer."""

    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spans(self) -> list[Any]:
        with self.lock:
            return [s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.spans()


def sink_app(sink: Sink) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        body = await request.body()
        with sink.lock:
            sink.headers.append(dict(request.headers))
            if sink.fail_next > 0:
                sink.fail_next -= 1
                return Response("busy", 503)
            sink.requests.append(ExportTraceServiceRequest.FromString(body))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    return app


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    found = Sink()
    with serving(sink_app(found)) as url:
        yield found, f"{url}/v1/traces"


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind)
        out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in value.values] if kind == "array_value" else value
    return out


def stored(app: Any, store: Store) -> list[StoredRecord]:
    assert app.state.pellucid.monitor.flush(timeout=30)
    items = store.repo.list_records(RecordFilter(), limit=100, oldest_first=True).items
    return [store.repo.get_record(r.id) for r in items]


@pytest.fixture
def gateway(tiny_lm, settings, tmp_path, sink):
    _, endpoint = sink
    yield from make_gateway(
        tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}", otlp_endpoint=endpoint, otlp_headers=("x-team=ml",)
    )


def test_local_calls_become_genai_spans_with_the_records_ids_and_times(gateway, sink):
    received, _ = sink
    chat = gateway.chat("Hello there", user="ann", temperature=0.0)
    assert chat.status_code == 200
    text = gateway.client.post("/v1/completions", json={"model": gateway.model, "prompt": "Once", "max_tokens": 4})
    assert text.status_code == 200
    records = {r.id: r for r in gateway.records()}
    assert gateway.app.state.pellucid.exporter.flush(timeout=30)
    spans = received.wait_for(2)
    assert len(spans) == 2 and received.headers[0]["x-team"] == "ml"
    assert received.headers[0]["content-type"] == "application/x-protobuf"
    by_kind = {attrs(s)["gen_ai.operation.name"]: s for s in spans}
    for op, span in by_kind.items():
        a = attrs(span)
        record = records[a["pellucid.record_id"]]
        assert span.name == f"{op} {gateway.model}"
        assert span.trace_id == uuid.UUID(record.id).bytes and len(span.span_id) == 8
        assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == gateway.model
        assert a["gen_ai.usage.input_tokens"] == record.prompt_tokens > 0
        assert a["gen_ai.usage.output_tokens"] == record.completion_tokens > 0
        assert a["gen_ai.response.finish_reasons"] == [record.metadata["gateway"]["finish_reason"]]
        output = json.loads(a["gen_ai.output.messages"])
        assert output[0]["parts"][0]["content"] == record.response and output[0]["role"] == "assistant"
        start_ns = int(as_utc(record.created_at).timestamp() * 1e9)
        assert abs(span.start_time_unix_nano - start_ns) < 1_000_000  # same instant, to the millisecond
        assert abs((span.end_time_unix_nano - span.start_time_unix_nano) / 1e6 - record.latency_ms) < 1.0
        assert span.status.code == 0  # unset: the call succeeded
    chat_attrs = attrs(by_kind["chat"])
    messages = json.loads(chat_attrs["gen_ai.input.messages"])
    assert messages == [{"role": "user", "parts": [{"type": "text", "content": "Hello there"}]}]
    assert chat_attrs["user.id"] == "ann" and chat_attrs["gen_ai.request.temperature"] == 0.0
    assert attrs(by_kind["text_completion"])["input.value"] == "Once"
    assert gateway.app.state.pellucid.exporter.stats().exported == 2


def test_a_failed_call_is_an_error_span(gateway, sink):
    received, _ = sink
    answer = gateway.chat("Hi", max_tokens=0)  # refused by validation: logged with its error
    assert answer.status_code >= 400
    [record] = gateway.records()
    assert record.error
    assert gateway.app.state.pellucid.exporter.flush(timeout=30)
    [span] = received.wait_for(1)
    assert span.status.code == 2 and span.status.message == record.error  # STATUS_CODE_ERROR
    assert attrs(span)["error.type"] == "pellucid_error" and "gen_ai.output.messages" not in attrs(span)


def test_spans_carry_redacted_text_pii_counts_and_quality_flags(tiny_lm, settings, tmp_path, sink):
    received, endpoint = sink
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    for gw in make_gateway(tiny_lm, settings, url, otlp_endpoint=endpoint, redact_pii=True):
        gw.chat("Mail ann@example.com or bob@example.org\x07", max_tokens=2)  # a bell: a flag whatever the answer
        [record] = gw.records()
        assert gw.app.state.pellucid.exporter.flush(timeout=30)
    [span] = received.wait_for(1)
    a = attrs(span)
    sent = json.loads(a["gen_ai.input.messages"])[0]["parts"][0]["content"]
    assert sent == record.prompt[0]["content"] and "ann@example.com" not in sent
    assert a["pellucid.pii.EMAIL"] == 2
    flags = {k.removeprefix("pellucid.flags."): v for k, v in a.items() if k.startswith("pellucid.flags.")}
    assert flags == record.flags and "control_characters" in flags


def test_proxied_calls_are_exported_too(settings, tmp_path, sink):
    import openai

    received, endpoint = sink
    with serving(stub_app()) as stub_url:
        settings = settings.with_overrides(upstreams=(f"ok={stub_url}/v1",), otlp_endpoint=endpoint)
        store = Store.open(f"sqlite:///{tmp_path / 'proxy.db'}")
        app = create_app(settings, ModelPool(settings), store)
        try:
            with serving(app) as url:
                client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
                client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "Say hello"}])
                [record] = stored(app, store)
                assert app.state.pellucid.exporter.flush(timeout=30)
        finally:
            store.close()
    [span] = received.wait_for(1)
    a = attrs(span)
    assert span.name == "chat ok" and a["pellucid.record_id"] == record.id
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (7, 4)
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == TEXT


def test_a_receiver_that_is_down_neither_fails_nor_slows_calls(tiny_lm, settings, tmp_path):
    down = f"http://127.0.0.1:{free_port()}/v1/traces"
    for gw in make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}", otlp_endpoint=down):
        exporter = gw.app.state.pellucid.exporter
        exporter.backoff = 0.01
        started = time.monotonic()
        answers = [gw.chat(f"Hello {i}", max_tokens=2) for i in range(3)]
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert len(gw.records()) == 3
        assert exporter.flush(timeout=30)
        stats = exporter.stats()
        assert stats.failed == 3 and stats.exported == 0 and "ConnectError" in (stats.last_error or "")
    # three tiny generations take well under the exporter's retry schedule for one batch (4 tries)
    assert elapsed < 20


def test_a_full_queue_drops_and_counts_without_blocking():
    down = f"http://127.0.0.1:{free_port()}/v1/traces"
    exporter = OtlpExporter(down, batch_size=1, max_queue=1, backoff=5.0, max_retries=1)
    try:
        records = [make_record("hi", "there", model="m") for _ in range(5)]
        started = time.monotonic()
        exporter.submit(records)
        assert time.monotonic() - started < 0.5
        assert exporter.stats().dropped == 4
    finally:
        exporter.close(timeout=0.5)
    assert exporter.stats().dropped == 4 and exporter.stats().failed == 1


def test_5xx_is_retried_with_backoff(sink):
    received, endpoint = sink
    received.fail_next = 2
    exporter = OtlpExporter(endpoint, backoff=0.05, interval=0.05)
    try:
        exporter.submit([make_record("hi", "there", model="m")])
        assert exporter.flush(timeout=10)
    finally:
        exporter.close()
    assert len(received.headers) == 3 and len(received.spans()) == 1
    assert exporter.stats().exported == 1 and exporter.stats().failed == 0


def test_close_flushes_what_is_queued(sink):
    received, endpoint = sink
    exporter = OtlpExporter(endpoint, interval=60.0)  # only close() can send before a minute passes
    exporter.submit([make_record(f"hi {i}", "there", model="m") for i in range(3)])
    started = time.monotonic()
    exporter.close()
    assert time.monotonic() - started < 5 and len(received.spans()) == 3
    exporter.submit([make_record("late", "x", model="m")])
    assert exporter.stats().dropped == 1


def test_server_shutdown_exports_the_last_calls(tiny_lm, settings, tmp_path, sink):
    received, endpoint = sink
    for gw in make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}", otlp_endpoint=endpoint):
        gw.chat("Last words", max_tokens=2)
    # leaving make_gateway ran the lifespan's shutdown: writer closed, then the exporter
    assert [attrs(s)["gen_ai.operation.name"] for s in received.spans()] == ["chat"]


@pytest.mark.parametrize(("entries", "words"), [(["novalue"], "KEY=VALUE"), (["=v"], "PELLUCID_OTLP_HEADERS")])
def test_bad_headers_and_endpoints_name_the_value(entries, words):
    with pytest.raises(InvalidInputError, match=words):
        parse_headers(entries)
    with pytest.raises(InvalidInputError, match="127.0.0.1:4318"):
        OtlpExporter("localhost:4318")


def test_serve_refuses_a_bad_endpoint_before_starting(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--otlp-endpoint", "localhost:4318", "--no-background"])
    output = " ".join(result.output.split())
    assert result.exit_code != 0 and "'localhost:4318' is not an http:// or https:// URL" in output
    assert not (tmp_path / "pellucid.db").exists()  # refused before the store was opened


def test_the_writer_hands_stored_batches_on_and_survives_a_failing_hook(tmp_path):
    from pellucid.monitor import BatchWriter

    seen: list[list[str]] = []

    def hook(batch: Any) -> None:
        seen.append([r.response for r in batch])
        raise RuntimeError("observer bug")

    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        writer = BatchWriter(store.repo, on_written=hook)
        writer.put(make_record("first", "one"))
        assert writer.flush(timeout=10)
        writer.put(make_record("again", "two"))
        writer.close()
        assert seen == [["one"], ["two"]] and writer.stats().written == 2
    finally:
        store.close()


def test_settings_read_the_endpoint_and_headers_from_the_environment():
    env = {"PELLUCID_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "PELLUCID_OTLP_HEADERS": "a=1, b=2"}
    settings = Settings.from_env(env)
    assert settings.otlp_endpoint == env["PELLUCID_OTLP_ENDPOINT"]
    assert parse_headers(settings.otlp_headers) == {"a": "1", "b": "2"}


@pytest.fixture
def pellucid_receiver(settings, tmp_path, sink) -> Iterator[tuple[Any, Store, str]]:
    """Pellucid's own /v1/traces in a second app, itself exporting to ``sink`` (ingested spans must not go)."""
    _, sink_endpoint = sink
    store = Store.open(f"sqlite:///{tmp_path / 'receiver.db'}")
    app = create_app(settings.with_overrides(otlp_endpoint=sink_endpoint), ModelPool(settings), store)
    try:
        with serving(app) as url:
            yield app, store, f"{url}/v1/traces"
    finally:
        store.close()


def _same_call(original: Any, received: StoredRecord) -> None:
    assert received.prompt == original.prompt and received.response == original.response
    assert received.model == original.model and received.error == original.error
    assert (received.prompt_tokens, received.completion_tokens) == (original.prompt_tokens, original.completion_tokens)
    assert abs((as_utc(received.created_at) - as_utc(original.created_at)).total_seconds()) < 1e-3
    assert abs(received.latency_ms - original.latency_ms) < 0.01 * original.latency_ms + 0.01


def test_round_trip_through_pellucids_own_receiver(tiny_lm, settings, tmp_path, sink, pellucid_receiver):
    received, _ = sink
    receiver_app, receiver_store, endpoint = pellucid_receiver
    for gw in make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}", otlp_endpoint=endpoint):
        gw.chat("Hello there", max_tokens=4, user="ann")
        gw.client.post("/v1/completions", json={"model": gw.model, "prompt": "Once upon", "max_tokens": 3})
        originals = gw.records()
        assert gw.app.state.pellucid.exporter.flush(timeout=30)
        assert gw.app.state.pellucid.exporter.stats().exported == 2
    copies = stored(receiver_app, receiver_store)
    assert len(copies) == 2
    by_prompt = {json.dumps(c.prompt): c for c in copies}
    for original in originals:
        copy = by_prompt[json.dumps(original.prompt)]
        _same_call(original, copy)
        assert copy.trace_id == uuid.UUID(original.id).hex and copy.user_id == original.user_id
    assert isinstance(originals[1].prompt, str) and isinstance(originals[0].prompt, list)
    # the receiver does not send the spans it ingested back out
    exporter = receiver_app.state.pellucid.exporter
    assert exporter.flush(timeout=10) and exporter.stats().skipped == 2 and exporter.stats().exported == 0
    assert received.spans() == []


def test_round_trip_keeps_errors_sessions_and_system_messages(pellucid_receiver, settings, tmp_path):
    receiver_app, receiver_store, endpoint = pellucid_receiver
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    records = [
        make_record(messages, "Paris.", model="m1", prompt_tokens=12, completion_tokens=2, latency_ms=85.5,
                    session_id="conv-7", flags={"short_response": "2 tokens"}),
        make_record("Tell me", None, model="m2", prompt_tokens=2, latency_ms=3.25, error="CUDA out of memory"),
    ]  # fmt: skip
    exporter = OtlpExporter(endpoint, interval=0.05)
    try:
        exporter.submit(records)
        assert exporter.flush(timeout=10) and exporter.stats().exported == 2
    finally:
        exporter.close()
    copies = {c.model: c for c in stored(receiver_app, receiver_store)}
    for original in records:
        copy = copies[original.model]
        _same_call(original, copy)
    assert copies["m1"].session_id == "conv-7" and copies["m2"].error == "CUDA out of memory"


def test_span_texts_are_the_texts_the_store_keeps():
    """NUL and lone surrogates become U+FFFD in the span as in the record (the protobuf string stays encodable)."""
    from pellucid.monitor.sql import clean_text
    from pellucid.serve.otlp_export import span_attributes

    text = span_attributes(make_record("a\x00b", "llog\x00\x06 \ud800", model="m"))
    chat = span_attributes(make_record([{"role": "user", "content": "x\x00"}], "ok", model="m"))
    assert text["input.value"] == "a\ufffdb" == clean_text("a\x00b")
    output = json.loads(text["gen_ai.output.messages"])[0]["parts"][0]["content"]
    assert output == "llog\ufffd\x06 \ufffd" == clean_text("llog\x00\x06 \ud800")
    assert json.loads(chat["gen_ai.input.messages"])[0]["parts"][0]["content"] == "x\ufffd"
