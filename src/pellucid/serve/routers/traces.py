"""Calls grouped by OpenTelemetry trace: ``GET /api/traces`` and ``GET /api/traces/{trace_id}``.

The list is newest first, one row per trace (its session, first and last call, calls, errors,
models), optionally one session's. A trace answers its spans as a timeline: every LLM span
(a stored record, with the ``record_id`` to explain it) and every other span the application
sent in the same trace (retrieval, tools, the request around them; kept with the records as
``metadata.otel.context_spans``), each with its start and end in milliseconds since the
trace's first span, its parent, and its depth in the span tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from pellucid.monitor.errors import RecordNotFoundError, StoreError
from pellucid.monitor.records import StoredRecord
from pellucid.monitor.repository_base import NotFoundError
from pellucid.serve.state import app_state

router = APIRouter(tags=["traces"])


class TraceSummary(BaseModel):
    """One trace in the list (``TraceSummary.to_dict()``)."""

    trace_id: str
    session_id: str | None
    started_at: str
    last_call_at: str
    calls: int = Field(description="LLM spans stored as records.")
    errors: int
    models: list[str]


class TraceSpan(BaseModel):
    """One span on the timeline: an LLM call (``kind`` ``llm``, with its record) or a context span."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: Literal["llm", "context"]
    operation: str | None = Field(description="gen_ai.operation.name or the OpenInference span kind.")
    start_ms: float = Field(description="Milliseconds since the trace's first span started.")
    end_ms: float
    depth: int = Field(description="0 for a root span, its parent's depth + 1 otherwise.")
    record_id: str | None = Field(description="The stored call (LLM spans only): explain it from here.")
    model: str | None
    error: str | None
    prompt: str | None = Field(description="The prompt text, cut to 300 characters.")
    response: str | None = Field(description="The response, cut to 300 characters.")


class TraceDetail(BaseModel):
    trace_id: str
    session_id: str | None
    started_at: str
    duration_ms: float
    spans: list[TraceSpan]


def _store(request: Request) -> Any:
    store = app_state(request).store
    if store is None:
        raise StoreError("No monitoring store is configured; start the server with a database.")
    return store


@router.get("/traces", response_model=list[TraceSummary])
def list_traces(
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    session_id: str | None = Query(None, max_length=200, description="Only this session's traces."),
    since: datetime | None = Query(None, description="Only traces with a call at or after this time."),
) -> list[dict[str, Any]]:
    """Traces newest first (records that arrived through ``POST /v1/traces``)."""
    rows = _store(request).traces.list_traces(limit=limit, session_id=session_id, since=since)
    return [row.to_dict() for row in rows]


@router.get("/traces/{trace_id}", response_model=TraceDetail)
def get_trace(trace_id: str, request: Request) -> dict[str, Any]:
    """One trace's spans as a timeline, LLM spans linked to their records."""
    try:
        calls = _store(request).traces.trace_records(trace_id[:64])
    except NotFoundError as exc:
        raise RecordNotFoundError(str(exc)) from None
    return timeline(trace_id, calls)


def _cut(text: str | None, size: int = 300) -> str | None:
    return text if text is None or len(text) <= size else text[: size - 1] + "…"


def timeline(trace_id: str, calls: list[StoredRecord]) -> dict[str, Any]:
    """The trace's spans with times relative to its first span, parents before children."""
    spans: dict[str, dict[str, Any]] = {}
    for call in calls:
        start = call.created_at.timestamp() * 1000
        found = call.metadata.get("otel")
        otel: dict[str, Any] = found if isinstance(found, dict) else {}
        spans[call.span_id or call.id] = {
            "span_id": call.span_id or call.id, "parent_span_id": call.parent_span_id,
            "name": otel.get("span_name") or f"llm {call.model}", "kind": "llm", "operation": otel.get("operation"),
            "start_ms": start, "end_ms": start + (call.latency_ms or 0.0), "record_id": call.id, "model": call.model,
            "error": call.error, "prompt": _cut(call.prompt_text), "response": _cut(call.response),
        }  # fmt: skip
        for context in otel.get("context_spans") or []:
            if not isinstance(context, dict) or context.get("span_id") in spans:
                continue
            begin = context.get("start_ms")
            spans[str(context.get("span_id"))] = {
                "span_id": str(context.get("span_id")), "parent_span_id": context.get("parent_span_id"),
                "name": str(context.get("name") or "span"), "kind": "context", "operation": context.get("kind"),
                "start_ms": begin if isinstance(begin, (int, float)) else start,
                "end_ms": context.get("end_ms") if isinstance(context.get("end_ms"), (int, float)) else start,
                "record_id": None, "model": None, "error": None, "prompt": None, "response": None,
            }  # fmt: skip
    origin = min(s["start_ms"] for s in spans.values())
    end = max(s["end_ms"] for s in spans.values())
    ordered = sorted(spans.values(), key=lambda s: (s["start_ms"], s["span_id"]))
    for span in ordered:
        span["start_ms"] = round(span["start_ms"] - origin, 3)
        span["end_ms"] = round(span["end_ms"] - origin, 3)
        span["depth"] = _depth(span, spans)
    sessions = [c.session_id for c in calls if c.session_id]
    return {
        "trace_id": trace_id,
        "session_id": sessions[0] if sessions else None,
        "started_at": datetime.fromtimestamp(origin / 1000, tz=calls[0].created_at.tzinfo).isoformat(),
        "duration_ms": round(end - origin, 3),
        "spans": ordered,
    }


def _depth(span: dict[str, Any], spans: dict[str, dict[str, Any]]) -> int:
    """Ancestors of ``span`` present in this trace (a parent that was not sent ends the chain)."""
    depth, seen = 0, {span["span_id"]}
    parent = span["parent_span_id"]
    while parent in spans and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = spans[parent]["parent_span_id"]
    return depth
