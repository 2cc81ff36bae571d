"""Queries of the analytics tables (evaluation runs, alerts, drift reports) and the window
aggregates that alerts and correlations read.

Kept apart from :mod:`~pellucid.monitor.repository` (records, feedback) so the two grow
independently; the store exposes it as ``store.analytics``. All SQL of these features lives here.

Window aggregates (:meth:`AnalyticsRepository.aggregate`) reuse the metric vocabulary of
:func:`pellucid.monitor.sql.metric_source` — ``latency_ms``, ``flag:<name>``, ``feedback``, or any
stored enrichment such as ``perplexity`` — so an alert can watch anything a chart can show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import Engine, Row, Table, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.analytics_records import (
    AlertEventInfo,
    AlertRuleInfo,
    AuditReportInfo,
    DriftReportInfo,
    EvalExampleResult,
    EvalRunInfo,
)
from pellucid.monitor.db import AlertEvent, AlertRule, AuditReportRow, DriftReportRow, EvalExample, EvalRun
from pellucid.monitor.errors import StoreError
from pellucid.monitor.records import RecordFilter, StoredRecord, new_id, utcnow
from pellucid.monitor.sql import feedback, metrics, records

eval_runs: Table = EvalRun.__table__  # type: ignore[assignment]
eval_examples: Table = EvalExample.__table__  # type: ignore[assignment]
alert_rules: Table = AlertRule.__table__  # type: ignore[assignment]
alert_events: Table = AlertEvent.__table__  # type: ignore[assignment]
drift_reports: Table = DriftReportRow.__table__  # type: ignore[assignment]
audit_reports: Table = AuditReportRow.__table__  # type: ignore[assignment]

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


class NotFoundError(StoreError, LookupError):
    """No evaluation run, alert rule or drift report has the given id or name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _is_uuid(value: str) -> bool:
    try:
        sql.check_id(value)
    except InvalidInputError:
        return False
    return True


class AnalyticsRepository:
    """Analytics queries over one engine; thread-safe (each call takes its own connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _write(self) -> Any:
        conn = self.engine.connect()
        conn.execution_options(sqlite_begin="IMMEDIATE")
        return conn

    # -- evaluation runs ---------------------------------------------------------------
    def insert_eval_run(self, run: EvalRunInfo) -> str:
        """Store a run and its examples in one transaction; returns the run id."""
        row = {k: v for k, v in run.__dict__.items() if k != "examples"}
        row["results"] = sql.clean_json(run.results)
        row["params"] = sql.clean_json(run.params) or None
        examples = [{"run_id": run.id, **sql.clean_json({k: v for k, v in e.__dict__.items()})} for e in run.examples]
        with self._write() as conn, conn.begin():
            conn.execute(eval_runs.insert(), [row])
            if examples:
                conn.execute(eval_examples.insert(), examples)
        return run.id

    def list_eval_runs(self, *, limit: int = 100, name: str | None = None) -> list[EvalRunInfo]:
        """Runs, newest first (without examples)."""
        stmt = select(eval_runs).order_by(eval_runs.c.created_at.desc(), eval_runs.c.id.desc()).limit(limit)
        if name is not None:
            stmt = stmt.where(eval_runs.c.name == name)
        with self.engine.connect() as conn:
            return [_run_of(r) for r in conn.execute(stmt)]

    def get_eval_run(self, run: str, *, with_examples: bool = True) -> EvalRunInfo:
        """A run by id, or the newest run with that name."""
        cond = eval_runs.c.id == sql.check_id(run) if _is_uuid(run) else eval_runs.c.name == run
        stmt = select(eval_runs).where(cond).order_by(eval_runs.c.created_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                known: Sequence[str] = conn.execute(select(eval_runs.c.name).distinct().limit(20)).scalars().all()
                raise NotFoundError(
                    f"No evaluation run with id or name {run!r}. Known names: {', '.join(sorted(known)) or '(none)'}; "
                    "see `pellucid eval runs`."
                )
            examples: list[Row[Any]] = []
            if with_examples:
                examples = list(
                    conn.execute(
                        select(eval_examples).where(eval_examples.c.run_id == row.id).order_by(eval_examples.c.idx)
                    )
                )
        return _run_of(row, examples)

    def delete_eval_run(self, run_id: str) -> bool:
        with self._write() as conn, conn.begin():
            return bool(conn.execute(delete(eval_runs).where(eval_runs.c.id == sql.check_id(run_id))).rowcount)

    # -- alert rules and events --------------------------------------------------------
    def add_alert_rule(self, values: dict[str, Any]) -> AlertRuleInfo:
        """Store a rule (``values``: the ``alert_rules`` columns except ids and state)."""
        row = {"id": new_id(), "created_at": utcnow(), "state": "ok", "enabled": True, **values}
        try:
            with self._write() as conn, conn.begin():
                conn.execute(alert_rules.insert(), [row])
        except IntegrityError:
            raise InvalidInputError(
                f"An alert rule named {values.get('name')!r} already exists; remove it first or choose another name."
            ) from None
        return self.get_alert_rule(row["id"])

    def list_alert_rules(self, *, enabled_only: bool = False) -> list[AlertRuleInfo]:
        stmt = select(alert_rules).order_by(alert_rules.c.name)
        if enabled_only:
            stmt = stmt.where(alert_rules.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [AlertRuleInfo(**r._mapping) for r in conn.execute(stmt)]

    def _rule_condition(self, rule: str) -> Any:
        return (
            or_(alert_rules.c.id == sql.check_id(rule), alert_rules.c.name == rule)
            if _is_uuid(rule)
            else (alert_rules.c.name == rule)
        )

    def get_alert_rule(self, rule: str) -> AlertRuleInfo:
        """A rule by id or name."""
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_rules).where(self._rule_condition(rule))).first()
            if row is None:
                stmt = select(alert_rules.c.name).order_by(alert_rules.c.name)
                names: Sequence[str] = conn.execute(stmt).scalars().all()
                raise NotFoundError(f"No alert rule {rule!r}. Rules: {', '.join(names) or '(none)'}.")
        return AlertRuleInfo(**row._mapping)

    def remove_alert_rule(self, rule: str) -> AlertRuleInfo:
        """Delete a rule by id or name (its events stay in the history); returns what was removed."""
        found = self.get_alert_rule(rule)
        with self._write() as conn, conn.begin():
            conn.execute(delete(alert_rules).where(alert_rules.c.id == found.id))
        return found

    def update_alert_rule(self, rule_id: str, **values: Any) -> None:
        """Set columns of one rule (state, last_value, last_checked_at, last_fired_at, enabled...)."""
        with self._write() as conn, conn.begin():
            conn.execute(update(alert_rules).where(alert_rules.c.id == sql.check_id(rule_id)).values(**values))

    def add_alert_event(
        self,
        rule: AlertRuleInfo,
        value: float | None,
        message: str,
        status: str,
        detail: str | None,
        fired_at: datetime | None = None,
    ) -> AlertEventInfo:
        row: dict[str, Any] = {
            "id": new_id(),
            "rule_id": rule.id,
            "rule_name": rule.name,
            "fired_at": fired_at or utcnow(),
            "value": value,
            "message": sql.clean_text(message),
            "delivery_status": status,
            "delivery_detail": None if detail is None else sql.clean_text(detail)[:4000],
        }
        with self._write() as conn, conn.begin():
            conn.execute(alert_events.insert(), [row])
        return AlertEventInfo(**row)

    def alert_history(self, rule: str | None = None, *, limit: int = 100) -> list[AlertEventInfo]:
        """Events, newest first; ``rule`` (id or name) keeps one rule's."""
        stmt = select(alert_events).order_by(alert_events.c.fired_at.desc(), alert_events.c.id.desc()).limit(limit)
        if rule is not None:
            cond = alert_events.c.rule_name == rule
            if _is_uuid(rule):
                cond = or_(cond, alert_events.c.rule_id == sql.check_id(rule))
            stmt = stmt.where(cond)
        with self.engine.connect() as conn:
            return [AlertEventInfo(**r._mapping) for r in conn.execute(stmt)]

    # -- drift reports -----------------------------------------------------------------
    def save_drift_report(
        self, reference: str, current: str, report: dict[str, Any], *, name: str | None = None
    ) -> DriftReportInfo:
        row = {
            "id": new_id(),
            "created_at": utcnow(),
            "name": name,
            "reference": reference,
            "current": current,
            "drifted": bool(report.get("drifted")),
            "verdict": str(report.get("verdict", "")),
            "report": sql.clean_json(report),
        }
        with self._write() as conn, conn.begin():
            conn.execute(drift_reports.insert(), [row])
        return DriftReportInfo(**row)

    def list_drift_reports(self, *, limit: int = 50) -> list[DriftReportInfo]:
        stmt = select(drift_reports).order_by(drift_reports.c.created_at.desc(), drift_reports.c.id.desc())
        with self.engine.connect() as conn:
            return [DriftReportInfo(**r._mapping) for r in conn.execute(stmt.limit(limit))]

    def get_drift_report(self, report_id: str) -> DriftReportInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(drift_reports).where(drift_reports.c.id == sql.check_id(report_id))).first()
        if row is None:
            raise NotFoundError(f"No saved drift report with id {report_id!r}; list them with GET /api/drift/reports.")
        return DriftReportInfo(**row._mapping)

    # -- audit reports -------------------------------------------------------------------
    def save_audit_report(self, report: dict[str, Any], *, report_id: str | None = None) -> AuditReportInfo:
        """Keep a finished audit (``AuditReport.to_dict()``); ``report_id`` defaults to a new id."""
        checks = [str(c.get("check", "")) for c in report.get("checks", [])]
        row = {
            "id": sql.check_id(report_id) if report_id is not None else new_id(),
            "created_at": utcnow(),
            "model": str(report.get("model", "")),
            "model_version": report.get("model_version"),
            "checks": checks,
            "summary": {k: int(v) for k, v in dict(report.get("summary", {})).items()},
            "report": sql.clean_json(report),
        }
        with self._write() as conn, conn.begin():
            conn.execute(audit_reports.insert(), [row])
        return AuditReportInfo(**row)

    def list_audit_reports(self, *, limit: int = 50, model: str | None = None) -> list[AuditReportInfo]:
        """Stored audits, newest first; ``model`` keeps one model's."""
        stmt = select(audit_reports).order_by(audit_reports.c.created_at.desc(), audit_reports.c.id.desc())
        if model is not None:
            stmt = stmt.where(audit_reports.c.model == model)
        with self.engine.connect() as conn:
            return [AuditReportInfo(**r._mapping) for r in conn.execute(stmt.limit(limit))]

    def get_audit_report(self, report_id: str) -> AuditReportInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(audit_reports).where(audit_reports.c.id == sql.check_id(report_id))).first()
        if row is None:
            raise NotFoundError(f"No stored audit report with id {report_id!r}; list them with GET /api/audit/jobs.")
        return AuditReportInfo(**row._mapping)

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


def _run_of(row: Row[Any], examples: Sequence[Row[Any]] = ()) -> EvalRunInfo:
    m = dict(row._mapping)
    return EvalRunInfo(
        id=m["id"],
        name=m["name"],
        created_at=m["created_at"],
        model=m["model"],
        model_version=m["model_version"],
        prompt_version=m["prompt_version"],
        dataset_path=m["dataset_path"],
        metrics=list(m["metrics"] or []),
        results=dict(m["results"] or {}),
        n_examples=int(m["n_examples"]),
        n_skipped=int(m["n_skipped"]),
        params=dict(m["params"] or {}),
        examples=tuple(
            EvalExampleResult(
                idx=e.idx,
                line=e.line,
                prompt=e.prompt,
                reference=e.reference,
                prediction=e.prediction,
                scores=dict(e.scores or {}),
            )
            for e in examples
        ),
    )
