"""Window aggregates over records — what alerts, correlations, enrichment and the projector read.

The store exposes it as ``store.analytics``; evaluation runs (``store.evals``), alert rules and
events (``store.alerts``) and saved reports (``store.reports``) have repositories of their own
(see :mod:`~pellucid.monitor.repository_base`).

Window aggregates (:meth:`AnalyticsRepository.aggregate`) reuse the metric vocabulary of
:func:`pellucid.monitor.sql.metric_source` — ``latency_ms``, ``flag:<name>``, ``feedback``, or any
stored enrichment such as ``perplexity`` — so an alert can watch anything a chart can show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import and_, func, or_, select

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.records import RecordFilter, StoredRecord
from pellucid.monitor.repository_base import Repository
from pellucid.monitor.sql import feedback, metrics, records

#: Aggregations computed by the database; percentiles are computed from the values.
SQL_AGGREGATES: dict[str, Any] = {
    "mean": func.avg,
    "min": func.min,
    "max": func.max,
    "sum": func.sum,
    "count": func.count,
}
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
AGGREGATES = (*SQL_AGGREGATES, *PERCENTILES)


class AnalyticsRepository(Repository):
    """Window aggregates over records: what alerts, correlations, enrichment and the projector read."""

    # -- window aggregates -------------------------------------------------------------
    def aggregate(self, metric: str, agg: str, filter: RecordFilter | None = None) -> tuple[float | None, int]:
        """``agg`` (mean, min, max, sum, count, p50, p90, p95, p99) of ``metric`` over the
        filtered records, and how many values it used. ``None`` when there are none."""
        if agg not in AGGREGATES:
            raise InvalidInputError(f"Unknown aggregation {agg!r}. Available: {', '.join(AGGREGATES)}.")
        value, source = sql.metric_source(metric)
        conds = [value.is_not(None), *sql.filter_conditions(filter)]
        if agg in PERCENTILES:
            stmt = select(value).select_from(source).where(*conds)
            with self.engine.connect() as conn:
                values = np.asarray(conn.execute(stmt).scalars().all(), dtype=np.float64)
            if values.size == 0:
                return None, 0
            return float(np.percentile(values, PERCENTILES[agg])), int(values.size)
        stmt = select(SQL_AGGREGATES[agg](value), func.count(value)).select_from(source).where(*conds)
        with self.engine.connect() as conn:
            result, n = cast(tuple[Any, int], conn.execute(stmt).one())  # the aggregate's type depends on the database
        if agg == "count":
            return float(n), int(n)
        return (None if result is None else float(result)), int(n)

    def summary(self, filter: RecordFilter | None = None) -> dict[str, float | int | None]:
        """The window at a glance: ``records``, ``errors`` and ``error_rate``, and the median and
        95th percentile of latency and of time to first token (``None`` without values)."""
        records_n = int(self.aggregate("records", "count", filter)[1])
        errors = self.aggregate("error", "sum", filter)[0]
        out: dict[str, float | int | None] = {
            "records": records_n,
            "errors": int(errors or 0),
            "error_rate": (errors or 0.0) / records_n if records_n else None,
        }
        for metric in ("latency_ms", "ttft_ms"):
            for agg in ("p50", "p95"):
                out[f"{metric}_{agg}"] = self.aggregate(metric, agg, filter)[0]
        return out

    def feedback_rate(self, kind: str, filter: RecordFilter | None = None) -> tuple[float | None, int]:
        """Among filtered records with thumbs or score feedback, the share that got ``kind``
        (``thumbs_down``, ``thumbs_up``, ``score``, ``comment``); and how many were rated."""
        rated = select(feedback.c.record_id).where(feedback.c.kind.in_(("thumbs_up", "thumbs_down", "score")))
        with_kind = select(feedback.c.record_id).where(feedback.c.kind == kind)
        conds = sql.filter_conditions(filter)
        total_stmt = select(func.count()).select_from(records).where(records.c.id.in_(rated), *conds)
        hit_stmt = (
            select(func.count())
            .select_from(records)
            .where(records.c.id.in_(rated), records.c.id.in_(with_kind), *conds)
        )
        with self.engine.connect() as conn:
            total = int(conn.execute(total_stmt).scalar_one())
            hits = int(conn.execute(hit_stmt).scalar_one())
        return (hits / total if total else None), total

    def metric_feedback_pairs(
        self, metric: str, filter: RecordFilter | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Record ids, ``metric`` values and mean feedback values (thumbs ±1, scores) of the
        filtered records that have both, oldest first."""
        if metric == "feedback":
            raise InvalidInputError("Correlating feedback with itself is meaningless; choose another metric.")
        value, source = sql.metric_source(metric)
        rating = (
            select(feedback.c.record_id, func.avg(feedback.c.value).label("rating"))
            .where(feedback.c.kind.in_(("thumbs_up", "thumbs_down", "score")))
            .group_by(feedback.c.record_id)
            .subquery()
        )
        stmt = (
            select(records.c.id, value, rating.c.rating)
            .select_from(source.join(rating, rating.c.record_id == records.c.id))
            .where(value.is_not(None), *sql.filter_conditions(filter))
            .order_by(records.c.created_at, records.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        ids = [r[0] for r in rows]
        return ids, np.array([r[1] for r in rows], dtype=np.float64), np.array([r[2] for r in rows], dtype=np.float64)

    def records_missing(
        self, marker: str, *, limit: int = 64, after: tuple[datetime, str] | None = None
    ) -> list[StoredRecord]:
        """Oldest records without a value row for metric ``marker`` (the enrichment queue).

        ``after`` — the ``(created_at, id)`` of the last record of the previous batch — resumes
        the scan there, so draining a large backlog reads each record once instead of rescanning
        from the oldest every batch. ``NOT EXISTS`` probes the metrics primary key per row.
        """
        done = select(metrics.c.record_id).where(metrics.c.record_id == records.c.id, metrics.c.name == marker)
        conds = [~done.exists()]
        if after is not None:
            at, rid = after
            conds.append(or_(records.c.created_at > at, and_(records.c.created_at == at, records.c.id > rid)))
        stmt = select(records).where(*conds).order_by(records.c.created_at, records.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [sql.record_of(r) for r in conn.execute(stmt)]

    def count_missing(self, marker: str) -> int:
        """How many records have no ``marker`` metric."""
        done = select(metrics.c.record_id).where(metrics.c.record_id == records.c.id, metrics.c.name == marker)
        stmt = select(func.count()).select_from(records).where(~done.exists())
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def texts_of(self, ids: Sequence[str], field: str = "prompt") -> dict[str, str]:
        """``{record id: prompt text or response}`` for ``ids`` (missing responses as "")."""
        column = records.c.prompt_text if field == "prompt" else records.c.response
        stmt = select(records.c.id, column).where(records.c.id.in_([sql.check_id(i) for i in ids]))
        with self.engine.connect() as conn:
            return {rid: text or "" for rid, text in cast(Iterable[tuple[str, str | None]], conn.execute(stmt))}

    def point_fields(self, ids: Sequence[str], *, skip_metrics: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """What the projector colours points by, for ``ids``: ``{record id: {"model", "model_version",
        "flags": [names], "metrics": {name: value}}}`` — the built-in numbers (latency, token counts)
        and every stored metric except ``skip_metrics``; missing values are left out."""
        checked = [sql.check_id(i) for i in ids]
        numbers = ("latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens")
        columns = [records.c.id, records.c.model, records.c.model_version, records.c.flags]
        out: dict[str, dict[str, Any]] = {}
        stored = select(metrics.c.record_id, metrics.c.name, metrics.c.value).where(
            metrics.c.record_id.in_(checked), metrics.c.value.is_not(None), metrics.c.name.not_in(list(skip_metrics))
        )
        described = select(*columns, *(records.c[n] for n in numbers)).where(records.c.id.in_(checked))
        with self.engine.connect() as conn:
            for row in conn.execute(described):
                m = row._mapping
                out[m["id"]] = {
                    "model": m["model"],
                    "model_version": m["model_version"],
                    "flags": sorted(m["flags"] or {}),
                    "metrics": {n: float(m[n]) for n in numbers if m[n] is not None},
                }
            for rid, name, value in conn.execute(stored).tuples():
                if rid in out:
                    out[rid]["metrics"][name] = float(value)
        return out

    def metric_names_present(self, names: Sequence[str], filter: RecordFilter | None = None) -> list[str]:
        """Which of ``names`` (stored metrics) have at least one value in the filtered records."""
        stmt = (
            select(metrics.c.name)
            .distinct()
            .join(records, records.c.id == metrics.c.record_id)
            .where(metrics.c.name.in_(list(names)), metrics.c.value.is_not(None), *sql.filter_conditions(filter))
        )
        with self.engine.connect() as conn:
            found: set[str] = set(conn.execute(stmt).scalars())
        return [n for n in names if n in found]
