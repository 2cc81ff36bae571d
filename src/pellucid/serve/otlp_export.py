"""OpenTelemetry out: every logged call sent as one OTLP span to a tracing tool, off the request path.

With ``PELLUCID_OTLP_ENDPOINT`` (or ``pellucid serve --otlp-endpoint URL``) set, the monitor's
batched writer hands each batch it has stored to :meth:`OtlpExporter.submit`, which only appends
to a bounded queue. One background thread takes up to ``batch_size`` spans at a time (or what
is waiting after ``interval`` seconds) and POSTs them as an ``ExportTraceServiceRequest``
(protobuf) with httpx. So a user's call never waits for, or fails because of, the tracing tool.

The span follows the OpenTelemetry GenAI semantic conventions, the vocabulary Phoenix, Langfuse
and Pellucid's own ``/v1/traces`` receiver read: name ``chat {model}`` (``text_completion
{model}`` for a plain-text prompt), ``gen_ai.operation.name``, ``gen_ai.request.model`` /
``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens``,
``gen_ai.response.finish_reasons``, and the content as ``gen_ai.input.messages`` /
``gen_ai.output.messages`` (plain-text prompts as OpenInference ``input.value``). Pellucid's
own values are attributes under ``pellucid.``: the record id, model and template versions,
tags, data-quality flags (``pellucid.flags.NAME``) and what PII redaction replaced
(``pellucid.pii.KIND``). The texts are exported as stored, so redaction applies to them too.

Ids and times: the trace id is the record's UUID (its 16 bytes), the span id the first 8 bytes
of its SHA-256, so a re-sent record is the same span. The span starts at ``created_at`` and
lasts ``latency_ms``; a record with an ``error`` has status ERROR with that message.

Limits, on purpose:

- **Enrichment arriving later is not re-sent.** Perplexity, entropy, toxicity and drift flags
  are computed by the enrichment worker after the record is stored; a span is final once sent,
  so only what the record holds when written (quality flags, redaction counts) is exported.
- **Ingested spans are not sent back.** Records that arrived through ``/v1/traces`` (tag
  ``otlp``, with a span id) are already in the application's traces; exporting them again
  could loop between two receivers. They are counted in ``stats().skipped``.
- **Full queue drops.** When the tracing tool is slow or down and ``max_queue`` spans wait, new
  ones are dropped and counted (``stats().dropped``); the first drop of a run is logged.
- **Retries.** Connection errors, 429 and 5xx are retried ``max_retries`` times with doubling
  pauses; a batch still refused then, or refused with another 4xx, counts as ``failed``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from pellucid import __version__
from pellucid.errors import InvalidInputError
from pellucid.monitor.batch_queue import BatchQueue
from pellucid.monitor.records import NewRecord, as_utc, prompt_to_text
from pellucid.monitor.sql import clean_text

log = logging.getLogger(__name__)

_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
}
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def parse_headers(entries: Iterable[str]) -> dict[str, str]:
    """``["k=v", "k2=v2"]`` (what ``PELLUCID_OTLP_HEADERS="k=v,k2=v2"`` gives) as a dict."""
    headers: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"OTLP header {entry!r} is not KEY=VALUE; set PELLUCID_OTLP_HEADERS like "
                "'authorization=Bearer abc,x-team=ml'."
            )
        headers[key.strip()] = value.strip()
    return headers


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is an http(s) URL; otherwise an error naming it and an example."""
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"OTLP endpoint {endpoint!r} is not an http:// or https:// URL; use the traces URL of your "
            "collector or tracing tool, e.g. http://127.0.0.1:4318/v1/traces."
        )
    return endpoint


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def ids_of(record: NewRecord) -> tuple[bytes, bytes]:
    """(trace id, span id): the record's UUID bytes and the first 8 bytes of its SHA-256."""
    return uuid.UUID(record.id).bytes, hashlib.sha256(record.id.encode()).digest()[:8]


def is_ingested(record: NewRecord) -> bool:
    """True for a record that came in through the OTLP receiver (it is already someone's span)."""
    return record.span_id is not None and "otlp" in record.tags


def _messages(prompt: list[dict[str, Any]]) -> str:
    """Chat messages in the GenAI ``gen_ai.input.messages`` shape (one ``parts`` list each)."""
    out = [
        {
            "role": clean_text(str(m.get("role", "user"))),
            "parts": [{"type": "text", "content": clean_text(prompt_to_text([m]))}],
        }
        for m in prompt
    ]
    return json.dumps(out, ensure_ascii=False)


def span_attributes(record: NewRecord) -> dict[str, Any]:
    """The span's attributes: GenAI conventions first, then Pellucid's under ``pellucid.``."""
    chat = not isinstance(record.prompt, str)
    model = record.model or "unknown"
    finish = (record.metadata.get("gateway") or {}).get("finish_reason") if record.response is not None else None
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat" if chat else "text_completion",
        "gen_ai.provider.name": "pellucid",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "pellucid.record_id": record.id,
    }
    if isinstance(record.prompt, str):  # texts as the store keeps them (NUL, lone surrogates: U+FFFD)
        attrs["input.value"] = clean_text(record.prompt)
    else:
        attrs["gen_ai.input.messages"] = _messages(record.prompt)
    if record.response is not None:
        output = {"role": "assistant", "parts": [{"type": "text", "content": clean_text(record.response)}]}
        attrs["gen_ai.output.messages"] = json.dumps([{**output, "finish_reason": finish or "stop"}])
    optional = {
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
        "gen_ai.response.finish_reasons": [finish] if isinstance(finish, str) else None,
        "gen_ai.response.time_to_first_chunk": record.ttft_ms / 1000 if record.ttft_ms is not None else None,
        "gen_ai.conversation.id": record.session_id,
        "session.id": record.session_id,
        "user.id": record.user_id,
        "error.type": "pellucid_error" if record.error else None,
        "pellucid.model_version": record.model_version,
        "pellucid.template_version": record.template_version,
        "pellucid.tags": list(record.tags) or None,
        "pellucid.language": record.language,
        "pellucid.cache_hit": record.cache_hit,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    attrs.update({_PARAMS[k]: v for k, v in record.params.items() if k in _PARAMS and isinstance(v, (int, float))})
    attrs.update({f"pellucid.flags.{name}": str(why) for name, why in record.flags.items()})
    attrs.update(_pii_counts(record.redaction))
    return attrs


def _pii_counts(redaction: Mapping[str, Any] | None) -> dict[str, int]:
    """``pellucid.pii.KIND``: how many of each kind redaction replaced, prompt and response together."""
    counts: dict[str, int] = {}
    for part in ("prompt", "response"):
        found = (redaction or {}).get(part)
        for kind, n in found.items() if isinstance(found, dict) else ():
            if isinstance(n, int) and not isinstance(n, bool):
                counts[f"pellucid.pii.{kind}"] = counts.get(f"pellucid.pii.{kind}", 0) + n
    return counts


def to_span(record: NewRecord) -> Span:
    """One record as one OTLP span (kind CLIENT; status ERROR with the record's error)."""
    trace_id, span_id = ids_of(record)
    start = int(as_utc(record.created_at).timestamp() * 1e9)
    end = start + int((record.latency_ms or 0.0) * 1e6)
    status = Status(code=Status.STATUS_CODE_ERROR, message=record.error) if record.error else Status()
    chat = not isinstance(record.prompt, str)
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=f"{'chat' if chat else 'text_completion'} {record.model or 'unknown'}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in span_attributes(record).items()],
        status=status,
    )


def export_request(spans: Sequence[Span], service_name: str = "pellucid") -> ExportTraceServiceRequest:
    """The OTLP request carrying ``spans`` under one resource (``service.name``) and scope."""
    resource = Resource(attributes=[KeyValue(key="service.name", value=_value(service_name))])
    scope = InstrumentationScope(name="pellucid", version=__version__)
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
    )


@dataclass(frozen=True)
class ExportStats:
    """Counters since the exporter started (``queued``: waiting right now)."""

    exported: int
    dropped: int
    failed: int
    skipped: int
    queued: int
    last_error: str | None


class OtlpExporter(BatchQueue[NewRecord]):
    """A bounded queue of records and one thread that sends them as OTLP spans in batches.

    The queue, its batching and ``flush`` are :class:`~pellucid.monitor.batch_queue.BatchQueue`'s
    (the same as the store's writer); a full queue drops instead of refusing.

    Args:
        endpoint: the OTLP/HTTP traces URL, e.g. ``http://127.0.0.1:4318/v1/traces``.
        headers: extra request headers (an API key for a hosted tracing tool).
        batch_size: most spans per request. interval: longest a span waits for its batch, seconds.
        max_queue: spans held before new ones are dropped. timeout: per request, seconds.
        max_retries: further tries of a batch after a connection error, 429 or 5xx.
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        *,
        batch_size: int = 256,
        interval: float = 1.0,
        max_queue: int = 4096,
        timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.2,
        service_name: str = "pellucid",
    ) -> None:
        check_endpoint(endpoint)
        if batch_size < 1 or max_queue < batch_size or interval <= 0:
            raise InvalidInputError(
                f"Need 1 <= batch_size <= max_queue and interval > 0, got batch_size={batch_size}, "
                f"max_queue={max_queue}, interval={interval}."
            )
        super().__init__(batch_size, interval)
        self.endpoint = endpoint
        self.interval, self.max_queue = interval, max_queue
        self.max_retries, self.backoff, self.service_name = max_retries, backoff, service_name
        self._client = httpx.Client(
            timeout=timeout, headers={"Content-Type": "application/x-protobuf", **dict(headers or {})}
        )
        self._counts = {"exported": 0, "dropped": 0, "failed": 0, "skipped": 0}
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pellucid-otlp-export", daemon=True)
        self._thread.start()

    # -- producer side (called by the monitor's writer thread) ----------------------------
    def submit(self, records: Sequence[NewRecord]) -> None:
        """Queue ``records`` for export. Never blocks, never raises: a full queue drops and counts."""
        with self._lock:
            for record in records:
                if is_ingested(record):
                    self._counts["skipped"] += 1
                elif self._closing or len(self._pending) >= self.max_queue:
                    if not self._counts["dropped"]:
                        log.warning("OTLP export queue full (%d spans) or closed; dropping spans", self.max_queue)
                    self._counts["dropped"] += 1
                else:
                    self._enqueue(record)
            if self._pending:
                self._work.notify()

    def _working(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, send what is queued (for at most ``timeout`` seconds), stop the thread."""
        with self._lock:
            self._closing = True
            self._work.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()  # cut retry pauses short; the batch in flight is counted as failed
            self._thread.join(self._client.timeout.read or 5.0)
        self._client.close()
        stats = self.stats()
        if stats.dropped or stats.failed or stats.queued:
            log.warning(
                "OTLP export closed: %d spans exported, %d dropped, %d failed, %d not sent (last error: %s)",
                stats.exported, stats.dropped, stats.failed, stats.queued, stats.last_error,
            )  # fmt: skip

    def stats(self) -> ExportStats:
        with self._lock:
            return ExportStats(queued=len(self._pending), last_error=self._last_error, **self._counts)

    # -- export thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                sent = self._send(batch)
            except Exception as error:  # a bug in span building must not stop the exporter
                log.exception("OTLP export of %d spans failed", len(batch))
                self._last_error, sent = repr(error)[:300], False
            with self._lock:
                self._counts["exported" if sent else "failed"] += len(batch)
                self._finished(len(batch))

    def _send(self, batch: list[NewRecord]) -> bool:
        body = export_request([to_span(r) for r in batch], self.service_name).SerializeToString()
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                answer = self._client.post(self.endpoint, content=body)
                if answer.status_code < 300:
                    return True
                self._last_error = f"HTTP {answer.status_code} from {self.endpoint}: {answer.text[:200]}"
                if answer.status_code not in _RETRY_STATUS:
                    break
            except httpx.HTTPError as error:
                self._last_error = f"{type(error).__name__} posting to {self.endpoint}: {error}"
            if attempt < self.max_retries and not self._stop.wait(delay):
                delay *= 2
            elif attempt < self.max_retries:
                break  # close() ran out of time
        log.warning("OTLP export of %d spans failed: %s", len(batch), self._last_error)
        return False


def check_settings(endpoint: str | None, headers: Iterable[str] = ()) -> None:
    """Refuse a bad endpoint or header before a server starts (nothing is created)."""
    if endpoint:
        check_endpoint(endpoint)
    parse_headers(headers)


def build_exporter(endpoint: str | None, headers: Iterable[str] = ()) -> OtlpExporter | None:
    """The exporter for the configured endpoint, or ``None`` when export is off."""
    return OtlpExporter(endpoint, parse_headers(headers)) if endpoint else None
