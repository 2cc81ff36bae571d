"""The responsible-AI audit as verbs: run checks on a model and keep the report in the store.

``pellucid audit`` and ``POST /api/audit/jobs`` both call :func:`run_audit`: it runs the checks
(:func:`pellucid.audit.runner.run_audit`), then keeps the finished report in the monitoring
store when one is given — under the server job's id, or a new one — so the workbench's Audit tab
lists it after a restart. A store that fails at that point does not fail the audit: the report
is returned with the reason it was not kept (:class:`AuditRun`).

The single-check commands (``pellucid audit bias``...) call :func:`run_check`; the audit of
logged traffic (a batch job, :mod:`pellucid.batch.audit_task`) reads its calls with
:func:`traffic_from_store` or :func:`traffic_from_file`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.audit.result import AuditReport, CheckResult
    from pellucid.models import LM
    from pellucid.monitor.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (check, done, total)
#: A call to audit: ``{"row", "id", "prompt", "response", "context"}``.
TrafficItem = dict[str, Any]


@dataclass(frozen=True)
class AuditRun:
    """A finished audit and where the store keeps it.

    Attributes:
        report: the audit report.
        stored_id: the id the store keeps it under (``None``: no store given, or storing failed).
        store_error: why storing failed (``None`` when it did not).
    """

    report: AuditReport
    stored_id: str | None = None
    store_error: str | None = None


def suites() -> dict[str, list[str]]:
    """The named suites: ``default`` and ``all``."""
    from pellucid.audit.runner import CHECKS, DEFAULT_SUITE

    return {"default": list(DEFAULT_SUITE), "all": list(CHECKS)}


def check_descriptions() -> dict[str, str]:
    """Every check's name and what it measures, in the registry's order."""
    from pellucid.audit.runner import CHECKS

    return {spec.name: spec.description for spec in CHECKS.values()}


def describe_checks() -> list[dict[str, Any]]:
    """Every check: name, description, what it needs, whether a request can run it, its plain options."""
    from pellucid.audit.options import NEEDS_FILE, OPTIONS
    from pellucid.audit.runner import CHECKS

    return [
        {
            "name": spec.name,
            "description": spec.description,
            "needs": list(spec.needs),
            "available": spec.name not in NEEDS_FILE,
            "unavailable_reason": NEEDS_FILE.get(spec.name),
            "params": [p.to_dict() for p in OPTIONS.get(spec.name, ())],
        }
        for spec in CHECKS.values()
    ]


def check_names(checks: Sequence[str] | None = None, suite: str | None = None) -> list[str]:
    """The checks to run: listed (``checks``) or a suite (``default``, ``all``, or ``"bias,pii"``)."""
    from pellucid.audit.runner import parse_suite

    if checks is not None and suite is not None:
        raise InvalidInputError("Give either checks or a suite, not both.")
    if checks is not None:
        return parse_suite(checks)
    if suite is None:
        raise InvalidInputError(f"Name the checks to run (checks=[...]) or a suite ({', '.join(suites())}).")
    return parse_suite(suites().get(suite, suite))


def check_options(names: Sequence[str], given: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The plain-valued options of a request, checked against the checks run and their specs."""
    from pellucid.audit.options import resolve_options

    for check in given:
        if check not in names:
            raise InvalidInputError(
                f"Options were given for {check!r}, which is not among the checks run: {', '.join(names)}."
            )
    return {check: resolve_options(check, values) for check, values in given.items()}


def run_audit(
    lm: LM,
    names: Sequence[str],
    *,
    options: dict[str, dict[str, Any]] | None = None,
    settings: Settings | None = None,
    store: Store | None = None,
    report_id: str | None = None,
    progress: Progress | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> AuditRun:
    """Run the checks ``names`` on ``lm`` and keep the report in ``store`` (if given) under
    ``report_id`` (default: a new id). Progress callbacks as for :func:`pellucid.audit.runner.run_audit`."""
    from pellucid.audit.runner import run_audit as run

    report = run(
        lm, names, options=options, settings=settings, progress=progress, on_start=on_start, on_result=on_result
    )
    if store is None:
        return AuditRun(report)
    return keep_report(store, report, report_id)


def keep_report(store: Store, report: AuditReport, report_id: str | None = None) -> AuditRun:
    """Store a finished report; a store failure leaves it in memory only, with the reason."""
    from sqlalchemy.exc import SQLAlchemyError

    from pellucid.monitor.errors import StoreError

    try:
        kept = store.reports.save_audit_report(report.to_dict(), report_id=report_id)
    except (StoreError, SQLAlchemyError) as exc:  # the audit succeeded: say why it was not kept, do not fail it
        log.warning("audit %s finished but could not be stored: %s", report_id or report.model, exc)
        return AuditRun(report, store_error=str(exc))
    return AuditRun(report, stored_id=kept.id)


def run_check(
    lm: LM, name: str, options: dict[str, Any], *, settings: Settings, progress: Progress | None = None
) -> AuditReport:
    """Run one check; unlike the full audit, its errors propagate (a command stops with the message).
    Options left at ``None`` take the check's defaults."""
    from pellucid.audit.result import AuditReport
    from pellucid.audit.runner import CHECKS, AuditContext

    ctx = AuditContext(lm, settings, progress)
    result = CHECKS[name].run(ctx, {k: v for k, v in options.items() if v is not None})
    return AuditReport(lm.name, [result], model_version=lm.version, seconds=result.seconds)


def traffic_from_store(store: Store, window: str, limit: int | None) -> tuple[list[TrafficItem], str, set[str]]:
    """The answered calls of ``window`` (oldest first, at most ``limit``): items, their source, their models."""
    from pellucid.monitor.windows import parse_window

    flt = parse_window(window)
    items: list[TrafficItem] = []
    models: set[str] = set()
    cursor = None
    while limit is None or len(items) < limit:
        page = store.repo.list_records(flt, limit=500, cursor=cursor, oldest_first=True)
        for r in page.items:
            if r.response is None or (limit is not None and len(items) >= limit):
                continue
            context = r.metadata.get("context") if isinstance(r.metadata, dict) else None
            items.append({"row": len(items), "id": r.id, "prompt": r.prompt_text, "response": r.response,
                          "context": context})  # fmt: skip
            if r.model:
                models.add(r.model)
        cursor = page.next_cursor
        if not cursor:
            break
    return items, f"store window {window}", models


def traffic_from_file(path: Path, limit: int | None) -> tuple[list[TrafficItem], str, set[str]]:
    """The calls of a JSONL/CSV/TSV file with ``prompt`` and ``response`` (``context``, ``id``, ``model`` optional)."""
    from pellucid.counterfactual.dataset import read_rows

    if not path.is_file():
        raise InvalidInputError(f"--dataset {str(path)!r} does not exist; give a .jsonl, .csv or .tsv file.")
    records, columns = read_rows(path)
    for needed in ("prompt", "response"):
        if needed not in columns:
            raise InvalidInputError(f"{path.name} has no {needed!r} column (columns: {', '.join(columns)}).")
    items = [
        {"row": i, "id": str(r.get("id") or i), "prompt": str(r.get("prompt") or ""),
         "response": str(r.get("response") or ""), "context": r.get("context") or None}
        for i, r in enumerate(records[:limit] if limit else records)
    ]  # fmt: skip
    return items, path.name, {str(r["model"]) for r in records if r.get("model")}
