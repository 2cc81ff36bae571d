"""The responsible-AI audit over HTTP, as background jobs. Mount under ``/api``.

- ``GET /api/audit/checks`` — every check (description, what it needs, whether it can run from a
  request, its plain-valued options in the format of ``GET /api/methods``) and the suites.
- ``POST /api/audit/jobs`` — start an audit of a served model (``checks`` or a ``suite``, and
  ``options`` per check); answers 202 with the job at once.
- ``GET /api/audit/jobs`` / ``GET /api/audit/jobs/{id}`` — status (queued, running, done, failed,
  cancelled), progress (checks done of total, the current check and its item count), a summary
  of each finished check, and when done the whole report (``AuditReport.to_dict()``).
- ``DELETE /api/audit/jobs/{id}`` — cancel: the audit stops at its next progress point.
- ``GET /api/audit/jobs/{id}/report.html`` and ``/card.md`` — the self-contained HTML report and
  the Hugging Face model card of a finished audit.

With a monitoring store, every finished audit is also kept in it (table ``audit_reports``, the job's
id as the report's): after a restart, ``GET /api/audit/jobs`` still lists it (``"stored": true``)
and its report, HTML page and model card are served from the store.

Audits run one at a time (the others wait as ``queued``). Errors answer
``{"error": {"type", "message"}}``: 404 for an unknown job or model, 409 for an action that does
not fit the job's state, 422 for a bad request, 429 when too many audits wait.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from pellucid.serve.jobs import Job, JobNotFoundError, JobRegistry, JobStateError
from pellucid.serve.json_errors import JSONErrorRoute
from pellucid.serve.schemas import ParamSpec
from pellucid.serve.state import app_state

router = APIRouter(tags=["audit"], route_class=JSONErrorRoute)
KIND = "audit"
#: stored audits listed next to the remembered jobs
STORED_LISTED = 50


class AuditJobRequest(BaseModel):
    """An audit to run: which checks, on which model, with which options."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Model to audit (default: the server's model).")
    checks: list[str] | None = Field(None, min_length=1, max_length=32, description="Checks to run, in order.")
    suite: str | None = Field(None, max_length=400, description="Or a suite: default, all, or 'bias,pii'.")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per check, e.g. {'toxicity': {'limit': 20}}."
    )


class AuditCheckSpec(BaseModel):
    """An audit check: what it measures, what it needs, whether a request can run it, its options."""

    name: str
    description: str
    needs: list[str]
    available: bool
    unavailable_reason: str | None
    params: list[ParamSpec]


class AuditChecks(BaseModel):
    """Every check, and the named suites (suite name to its checks)."""

    checks: list[AuditCheckSpec]
    suites: dict[str, list[str]]


class AuditCheckResult(BaseModel):
    """The outcome of one audit check (``status``: pass, fail, inconclusive or error).

    ``interval`` is the score's 95 % interval when the check has one; a check whose interval
    holds the threshold is inconclusive, and ``needed_n`` is the sample size that would decide it.
    """

    check: str
    status: Literal["pass", "fail", "inconclusive", "error"]
    passed: bool | None
    score: float | None
    threshold: float | None
    higher_is_worse: bool
    description: str
    metrics: dict[str, Any]
    findings: list[dict[str, Any]]
    limits: list[str]
    params: dict[str, Any]
    model: str
    seconds: float
    error: str | None
    interval: list[float] | None = None
    needed_n: int | None = None


class AuditReport(BaseModel):
    """Every check run on one model, in order; ``summary`` counts pass, fail, inconclusive and error."""

    kind: str
    model: str
    model_version: str | None
    created: str
    seconds: float
    summary: dict[str, int]
    meta: dict[str, Any]
    checks: list[AuditCheckResult]


class JobProgress(BaseModel):
    """Checks done of total, the check running now and its items done of total."""

    done: int
    total: int
    current: str | None
    current_done: int
    current_total: int
    fraction: float


class AuditStep(BaseModel):
    """A summary of one finished check."""

    check: str
    status: str
    score: float | None
    threshold: float | None
    seconds: float | None
    error: str | None


class AuditJobParams(BaseModel):
    """What the audit was asked: the model, the checks and their options."""

    model: str
    checks: list[str]
    options: dict[str, dict[str, Any]]


class AuditJob(BaseModel):
    """An audit job's status and progress; ``report`` once done (left out of listings).

    ``stored`` is true for an audit read back from the monitoring store (kept from an earlier
    run of the server).
    """

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    stored: bool | None = None
    params: AuditJobParams
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    cancel_requested: bool
    progress: JobProgress
    steps: list[AuditStep]
    error: str | None
    report: AuditReport | None = None


def jobs_of(request: Request) -> JobRegistry:
    """The app's job registry."""
    return app_state(request).jobs


def _audit_work(request: Request, model: str | None, names: list[str], options: dict[str, dict[str, Any]]) -> Any:
    from pellucid.audit.result import CheckResult
    from pellucid.service.audit import run_audit

    state = app_state(request)
    models, settings, store = state.pool(), state.config(), state.store

    def work(job: Job) -> Any:
        job.begin_step("loading the model")
        lm = models.get(model)

        def finished(result: CheckResult) -> None:
            summary = {"check": result.check, "status": result.status, "score": result.score}
            job.end_step(
                {**summary, "threshold": result.threshold, "seconds": round(result.seconds, 3), "error": result.error}
            )

        return run_audit(
            lm,
            names,
            options=options,
            settings=settings,
            store=store,
            report_id=job.id,
            progress=lambda _check, done, total: job.step_progress(done, total),
            on_start=job.begin_step,
            on_result=finished,
        ).report

    return work


def _canonical(job_id: str) -> str | None:
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        return None


def _stored_report(request: Request, job_id: str) -> Any:
    """The stored report with this id, or ``None`` (no store, not an id, not stored)."""
    from pellucid.monitor.repository_base import NotFoundError

    store, key = app_state(request).store, _canonical(job_id)
    if store is None or key is None:
        return None
    try:
        return store.reports.get_audit_report(key)
    except NotFoundError:
        return None


def _stored_job(info: Any) -> dict[str, Any]:
    """A stored report in the shape of a finished job (what the workbench's audit view reads)."""
    report = info.report
    steps = [
        {k: c.get(k) for k in ("check", "status", "score", "threshold", "seconds", "error")}
        for c in report.get("checks", [])
    ]
    finished = info.to_dict(with_report=False)["created_at"]
    n = len(steps)
    return {
        "id": info.id, "kind": KIND, "status": "done", "stored": True,
        "params": {"model": info.model, "checks": info.checks, "options": {}},  # options are not in the report
        "created_at": report.get("created") or finished, "started_at": None, "finished_at": finished,
        "seconds": report.get("seconds"), "cancel_requested": False,
        "progress": {"done": n, "total": n, "current": None, "current_done": 0, "current_total": 0, "fraction": 1.0},
        "steps": steps, "error": None, "report": report,
    }  # fmt: skip


def _job_answer(job: Job) -> dict[str, Any]:
    answer = job.to_dict()
    answer["report"] = job.result.to_dict() if job.status == "done" and job.result is not None else None
    return answer


def _job_or_stored(request: Request, job_id: str) -> Any:
    """The remembered job, else the stored report (``AuditReportInfo``); 404 when neither exists."""
    try:
        return jobs_of(request).get(job_id)
    except JobNotFoundError:
        stored = _stored_report(request, job_id)
        if stored is None:
            raise
        return stored


def _finished_report(request: Request, job_id: str) -> Any:
    """The report of a finished audit, always in its stored form (the dictionary the store keeps,
    with rounded timings), so a page or card reads the same before and after a restart."""
    from pellucid.audit.result import AuditReport

    job = _job_or_stored(request, job_id)
    if not isinstance(job, Job):
        return AuditReport.from_dict(job.report)
    if job.kind != KIND:
        raise JobStateError(f"Job {job.id} is a {job.kind} job, not an audit.")
    if job.status != "done":
        why = f": {job.error}" if job.error else ""
        raise JobStateError(f"The audit {job.id} is {job.status}{why}; its report exists once it is done.")
    return AuditReport.from_dict(job.result.to_dict())


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "model"


@router.get("/audit/checks", response_model=AuditChecks)
def list_checks() -> dict[str, Any]:
    """Every audit check with its options, and the named suites."""
    from pellucid.service.audit import describe_checks, suites

    return {"checks": describe_checks(), "suites": suites()}


@router.post("/audit/jobs", status_code=202, response_model=AuditJob, response_model_exclude_unset=True)
def start_audit(body: AuditJobRequest, request: Request) -> dict[str, Any]:
    """Start an audit in the background; poll ``GET /api/audit/jobs/{id}`` for its progress."""
    from pellucid.service.audit import check_names, check_options

    names = check_names(body.checks, body.suite)
    options = check_options(names, body.options)
    state = app_state(request)
    models = state.pool()
    check = getattr(models, "check", None)
    if check is not None:
        check(body.model)  # only served models: 404 before anything is queued
    model = body.model or state.config().default_model
    params = {"model": model, "checks": names, "options": options}
    job = jobs_of(request).submit(
        KIND, _audit_work(request, body.model, names, options), total=len(names), params=params
    )
    return _job_answer(job)


@router.get("/audit/jobs", response_model=list[AuditJob], response_model_exclude_unset=True)
def list_audits(request: Request) -> list[dict[str, Any]]:
    """The remembered audit jobs, newest first (without their reports), then the stored audits
    that are no longer remembered (``"stored": true``; the newest 50)."""
    jobs = [job.to_dict() for job in jobs_of(request).jobs(KIND)]
    store = app_state(request).store
    if store is None:
        return jobs
    remembered = {_canonical(j["id"]) for j in jobs}
    for info in store.reports.list_audit_reports(limit=STORED_LISTED):
        if info.id not in remembered:
            entry = _stored_job(info)
            entry.pop("report")
            jobs.append(entry)
    return jobs


@router.get("/audit/jobs/{job_id}", response_model=AuditJob, response_model_exclude_unset=True)
def get_audit(job_id: str, request: Request) -> dict[str, Any]:
    """Status and progress; ``report`` holds the whole report once the audit is done."""
    job = _job_or_stored(request, job_id)
    return _job_answer(job) if isinstance(job, Job) else _stored_job(job)


@router.delete("/audit/jobs/{job_id}", response_model=AuditJob, response_model_exclude_unset=True)
def cancel_audit(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a queued or running audit (it stops at its next progress point)."""
    return _job_answer(jobs_of(request).cancel(job_id))


@router.get(
    "/audit/jobs/{job_id}/report.html",
    response_class=HTMLResponse,
    response_model=None,
    responses={200: {"description": "The self-contained HTML report.", "content": {"text/html": {}}}},
)
def audit_report_html(job_id: str, request: Request, download: bool = False) -> Response:
    """The self-contained HTML report (inline CSS and SVG, no script)."""
    from pellucid.audit.report_html import report_page

    report = _finished_report(request, job_id)
    headers = (
        {"Content-Disposition": f'attachment; filename="audit-{_filename(report.model)}.html"'} if download else {}
    )
    return HTMLResponse(report_page(report), headers=headers)


@router.get(
    "/audit/jobs/{job_id}/card.md",
    response_model=None,
    responses={200: {"description": "The model card (README.md).", "content": {"text/markdown": {}}}},
)
def audit_model_card(
    job_id: str,
    request: Request,
    license: str | None = Query(None, max_length=64, pattern=r"^[A-Za-z0-9.+-]+$", description="e.g. apache-2.0"),
) -> Response:
    """The Hugging Face model card (README.md with model-index) of the audit."""
    from pellucid.audit.card import model_card

    report = _finished_report(request, job_id)
    return Response(
        model_card(report, license=license),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="README.md"'},
    )
