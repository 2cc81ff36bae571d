"""``POST /v1/traces``: an OTLP/HTTP receiver that stores the LLM spans of instrumented applications.

Point an OpenTelemetry exporter at Pellucid (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=
http://127.0.0.1:8000/v1/traces``): protobuf or JSON, gzip or not. Each LLM span becomes one
record (see :mod:`pellucid.serve.otlp_map`), written by the same batched writer as gateway
calls, so enrichment, drift, alerts and feedback treat them alike.

Answers follow OTLP/HTTP: 200 with an ``ExportTraceServiceResponse`` in the request's encoding,
whose ``partial_success`` counts the spans rejected and says why. A body that cannot be read
(wrong content type, bad gzip, truncated protobuf), or a batch whose LLM spans are all
unusable, is a 400 with the reason, and nothing of it is stored. When the writer's queue cannot
take the whole batch, the answer is 429 (the exporter retries) and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from pellucid.errors import InvalidInputError
from pellucid.monitor.sdk import make_record
from pellucid.serve.otlp_decode import PROTOBUF, BadPayload, parse_request, spans_of
from pellucid.serve.otlp_map import RecentContext, map_spans
from pellucid.serve.state import app_state

router = APIRouter(tags=["opentelemetry"])
_SHOWN_REASONS = 5


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": "otlp"}}, status, headers
    )


def _answer(request: Request, rejected: list[str]) -> Response:
    partial = ExportTracePartialSuccess()
    if rejected:
        shown = "; ".join(rejected[:_SHOWN_REASONS])
        more = f" (and {len(rejected) - _SHOWN_REASONS} more)" if len(rejected) > _SHOWN_REASONS else ""
        partial = ExportTracePartialSuccess(rejected_spans=len(rejected), error_message=f"{shown}{more}")
    answer = ExportTraceServiceResponse(partial_success=partial)
    if (request.headers.get("content-type") or "").startswith(PROTOBUF):
        return Response(answer.SerializeToString(), 200, media_type=PROTOBUF)
    return Response(json_format.MessageToJson(answer), 200, media_type="application/json")


def _recent(request: Request) -> RecentContext:
    """The app's memory of recent traces' context spans (made on first use)."""
    state = request.app.state
    if not hasattr(state, "otlp_context"):
        state.otlp_context = RecentContext()
    recent: RecentContext = state.otlp_context
    return recent


@router.post(
    "/v1/traces",
    summary="Receive OTLP/HTTP traces; LLM spans are stored as records",
    response_model=None,  # OTLP's ExportTraceServiceResponse, in the encoding the client sent
)
async def traces(request: Request) -> Response:
    monitor = app_state(request).monitor
    if monitor is None:
        return _error(503, "This server has no monitoring store, so spans cannot be stored; start it with one.")
    body = await request.body()
    try:
        export = parse_request(body, request.headers.get("content-type"), request.headers.get("content-encoding"))
    except BadPayload as exc:
        return _error(400, f"OTLP payload refused: {exc}")
    spans, rejected = spans_of(export)
    fields, refused = map_spans(spans, _recent(request))
    rejected += refused
    records: list[Any] = []
    for item in fields:
        prompt, response = item.pop("prompt"), item.pop("response")
        try:
            records.append(make_record(prompt, response, **item))
        except InvalidInputError as exc:
            rejected.append(f"span {item.get('span_id')} in trace {item.get('trace_id')}: {exc}")
    if rejected and not records:
        return _error(400, f"No span of this batch could be stored: {'; '.join(rejected[:_SHOWN_REASONS])}.")
    writer = monitor.writer
    if writer.stats().queued + len(records) > writer.max_queue:
        return _error(429, "The monitoring writer's queue is full; retry the export later.", **{"Retry-After": "1"})
    if monitor.journal is not None:  # durable: the spans are on disk before the exporter's answer
        await anyio.to_thread.run_sync(monitor.submit, records)
    else:
        monitor.submit(records)
    return _answer(request, rejected)
