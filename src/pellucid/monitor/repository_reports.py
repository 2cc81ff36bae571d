"""Saved drift reports and finished audit reports (listed by the workbench after a restart); ``store.reports``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select

from pellucid.monitor import sql
from pellucid.monitor.analytics_records import AuditReportInfo, DriftReportInfo
from pellucid.monitor.db import AuditReportRow, DriftReportRow
from pellucid.monitor.records import new_id, utcnow
from pellucid.monitor.repository_base import NotFoundError, Repository

drift_reports: Table = DriftReportRow.__table__  # type: ignore[assignment]
audit_reports: Table = AuditReportRow.__table__  # type: ignore[assignment]


class ReportRepository(Repository):
    """Drift and audit reports: save, list newest first, read by id."""

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
