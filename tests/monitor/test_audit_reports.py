"""Stored audit reports (revision 0003): saved, listed and read back on both dialects, and the
migration adds the table without touching what 0002 wrote."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import inspect

from pellucid.audit.result import AuditReport, CheckResult
from pellucid.monitor import Store
from pellucid.monitor.repository_base import NotFoundError


def _report(model: str, *statuses: str) -> AuditReport:
    checks = [
        CheckResult.failed(f"check{i}", "it broke", model=model)
        if s == "error"
        else CheckResult(f"check{i}", s == "pass", 0.1 * i, 0.5, model=model, seconds=1.5)
        for i, s in enumerate(statuses)
    ]
    return AuditReport(model=model, checks=checks, model_version="cfg-1", seconds=3.0)


def test_reports_round_trip_newest_first(store: Store) -> None:
    first = _report("smollm", "pass", "fail")
    job_id = uuid.uuid4().hex  # the job registry's ids: hex without dashes
    saved = store.reports.save_audit_report(first.to_dict(), report_id=job_id)
    assert saved.id == str(uuid.UUID(job_id))
    assert saved.checks == ["check0", "check1"] and saved.summary == {
        "pass": 1,
        "fail": 1,
        "inconclusive": 0,
        "error": 0,
    }
    second = store.reports.save_audit_report(_report("other", "error").to_dict())

    listed = store.reports.list_audit_reports()
    assert [r.id for r in listed] == [second.id, saved.id]
    assert [r.id for r in store.reports.list_audit_reports(model="smollm")] == [saved.id]
    assert "report" not in listed[0].to_dict(with_report=False)

    back = store.reports.get_audit_report(job_id)  # hex or dashed: the same report
    assert back.id == saved.id and back.model == "smollm" and back.model_version == "cfg-1"
    assert AuditReport.from_dict(back.report).to_dict() == first.to_dict()


def test_unknown_reports_are_named(store: Store) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=f"No stored audit report with id '{missing}'"):
        store.reports.get_audit_report(missing)


def test_a_0002_database_upgrades_to_0003_and_back(db_url: str) -> None:
    with Store.open(db_url, upgrade=False) as store:
        store.upgrade("0002")
        drift = store.reports.save_drift_report("last:7d", "last:1d", {"drifted": False, "verdict": "no drift"})
        assert "audit_reports" not in inspect(store.engine).get_table_names()
        store.upgrade("0003")
        assert store.current_revision() == "0003"
        assert store.reports.get_drift_report(drift.id).verdict == "no drift"
        store.reports.save_audit_report(_report("m", "pass").to_dict())
        assert len(store.reports.list_audit_reports()) == 1
        store.downgrade("0002")
        assert "audit_reports" not in inspect(store.engine).get_table_names()
        assert store.reports.get_drift_report(drift.id).verdict == "no drift"
