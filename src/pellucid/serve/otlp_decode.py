"""Decoding an OTLP/HTTP trace export (``POST /v1/traces``) into plain :class:`Span` objects.

OTLP/HTTP carries one ``ExportTraceServiceRequest`` per request, in one of two encodings named
by ``Content-Type``: ``application/x-protobuf`` (the binary protobuf) or ``application/json``
(protobuf's JSON mapping, except that trace and span ids are hex strings, not base64). The
body may be gzip-compressed (``Content-Encoding: gzip``). Both are decoded with the
``opentelemetry-proto`` message classes, so every field means what the specification says.

The result is flat and protobuf-free: each span with its resource's attributes, its ids as
lowercase hex, times in nanoseconds since the epoch, attributes and events as Python values.
Anything unreadable raises :class:`BadPayload` with the reason; nothing is decoded halfway.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MAX_INFLATED = 64 * 1024 * 1024  # a gzip bomb stops here


class BadPayload(ValueError):
    """The request body is not an OTLP trace export Pellucid can read (the message says why)."""


@dataclass
class Event:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class Span:
    """One span, as plain data (ids in hex; ``parent_span_id`` None for a root span)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    #: ``ERROR`` spans carry the status message here
    error: str | None = None


def value_of(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (arrays as lists, key-value lists as dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` pairs as a dict."""
    return {pair.key: value_of(pair.value) for pair in pairs}


def _inflate(body: bytes, encoding: str | None) -> bytes:
    coding = (encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding != "gzip":
        raise BadPayload(f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding.")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, _MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise BadPayload(f"The gzip body inflates to more than {_MAX_INFLATED} bytes; send smaller batches.")
        if not inflater.eof:
            raise BadPayload("The gzip body is truncated (the stream does not end).")
        return data
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise BadPayload(f"The body is not valid gzip ({exc}).") from None


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants bytes as base64. Converts in place."""
    if isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
            try:
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadPayload(f"{key} {value[:40]!r} is not hex (OTLP/JSON writes ids as hex strings).") from None
        elif key != "attributes":
            _hex_ids_to_base64(value)


def parse_request(body: bytes, content_type: str | None, encoding: str | None) -> ExportTraceServiceRequest:
    """The export request in ``body``, or :class:`BadPayload` naming what is wrong."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        raise BadPayload(
            f"Content-Type {content_type or 'missing'!r} is not an OTLP encoding; send {PROTOBUF} or {JSON}."
        )
    data = _inflate(body, encoding)
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(data)
        except DecodeError as exc:
            raise BadPayload(f"The protobuf body cannot be decoded ({exc}); is it truncated?") from None
        return request
    try:
        tree = json.loads(data)
    except ValueError as exc:
        raise BadPayload(f"The JSON body is not valid JSON ({exc}).") from None
    if not isinstance(tree, dict):
        raise BadPayload(
            f"The JSON body is a {type(tree).__name__}, not an OTLP export object {{'resourceSpans': [...]}}."
        )
    _hex_ids_to_base64(tree)
    try:
        json_format.ParseDict(tree, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, AttributeError, ValueError) as exc:  # wrong shapes inside
        raise BadPayload(f"The JSON body is not an OTLP trace export ({exc}).") from None
    return request


def _hex(raw: bytes, size: int, what: str) -> str:
    if len(raw) != size or not any(raw):
        raise BadPayload(f"invalid {what} {raw.hex() or 'empty'!r}: it must be {size} non-zero bytes")
    return raw.hex()


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[Span], list[str]]:
    """Every span of the request, flattened with its resource's attributes, and why any were unreadable."""
    out: list[Span] = []
    rejected: list[str] = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                try:
                    trace_id, span_id = _hex(s.trace_id, 16, "trace id"), _hex(s.span_id, 8, "span id")
                except BadPayload as exc:
                    rejected.append(f"span {s.name!r}: {exc}")
                    continue
                out.append(
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=s.parent_span_id.hex() if s.parent_span_id else None,
                        name=s.name,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes=attributes_of(s.attributes),
                        events=[Event(e.name, e.time_unix_nano, attributes_of(e.attributes)) for e in s.events],
                        resource=resource,
                        error=(s.status.message or "error") if s.status.code == 2 else None,  # STATUS_CODE_ERROR
                    )
                )
    return out, rejected
