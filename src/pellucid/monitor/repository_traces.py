"""Calls grouped by OpenTelemetry trace (``store.traces``): what the workbench's trace view reads.

Records that arrived through ``/v1/traces`` carry their span's ``trace_id``, ``span_id`` and
``parent_span_id``; the LLM spans of one trace are the records sharing a ``trace_id``. This
repository lists traces newest first, one :class:`TraceSummary` each (aggregated in the
database: first call, last call end, calls, errors, models, the session), and reads one trace's
records oldest first. Building the timeline from them is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.records import RecordFilter, StoredRecord, as_utc
from pellucid.monitor.repository_base import NotFoundError, Repository
from pellucid.monitor.sql import records

MAX_TRACES = 500
MAX_TRACE_CALLS = 1000


@dataclass(frozen=True)
class TraceSummary:
    """One trace as a row of the list: when, how many calls, which models, in which session."""

    trace_id: str
    session_id: str | None
    started_at: datetime
    last_call_at: datetime
    calls: int
    errors: int
    models: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "trace_id": self.trace_id,
            "session_id": self.session_id,
            "started_at": self.started_at.isoformat(),
            "last_call_at": self.last_call_at.isoformat(),
            "calls": self.calls,
            "errors": self.errors,
            "models": list(self.models),
        }


class TraceRepository(Repository):
    """Traces: list them (newest first, optionally one session's), read one trace's records."""

    def list_traces(
        self, *, limit: int = 50, session_id: str | None = None, since: datetime | None = None
    ) -> list[TraceSummary]:
        """The newest ``limit`` traces (by their first call), with their aggregates."""
        if not 1 <= limit <= MAX_TRACES:
            raise InvalidInputError(f"limit must be between 1 and {MAX_TRACES}, got {limit}.")
        c = records.c
        conds = [c.trace_id.is_not(None), *sql.filter_conditions(RecordFilter(session_id=session_id, since=since))]
        started = func.min(c.created_at)
        stmt = (
            select(
                c.trace_id,
                func.max(c.session_id).label("session_id"),
                started.label("started_at"),
                func.max(c.created_at).label("last_call_at"),
                func.count().label("calls"),
                func.count(c.error).label("errors"),
            )
            .where(*conds)
            .group_by(c.trace_id)
            .order_by(started.desc(), c.trace_id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            ids = [r.trace_id for r in rows]
            pairs = conn.execute(select(c.trace_id, c.model).where(c.trace_id.in_(ids)).distinct()).all() if ids else []
        models: dict[str, list[str]] = {}
        for trace_id, model in pairs:
            if model:
                models.setdefault(str(trace_id), []).append(str(model))
        return [
            TraceSummary(
                trace_id=r.trace_id,
                session_id=r.session_id,
                started_at=as_utc(r.started_at),
                last_call_at=as_utc(r.last_call_at),
                calls=int(r.calls),
                errors=int(r.errors),
                models=tuple(sorted(models.get(r.trace_id, []))),
            )
            for r in rows
        ]

    def trace_records(self, trace_id: str) -> list[StoredRecord]:
        """Every record (LLM span) of ``trace_id``, oldest first; :class:`NotFoundError` when none."""
        stmt = (
            select(records)
            .where(*sql.filter_conditions(RecordFilter(trace_id=trace_id)))
            .order_by(records.c.created_at, records.c.id)
            .limit(MAX_TRACE_CALLS)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            raise NotFoundError(
                f"No call of trace {trace_id!r} is stored; list traces with GET /api/traces "
                "(spans arrive through POST /v1/traces)."
            )
        return [sql.record_of(r, ()) for r in rows]
