"""Analytics API: metrics over time, drift reports, alerts, evaluation runs, projection,
feedback correlation, and "explain this record". Mount under ``/api``.

Every route reads the monitoring store from the app's :class:`~pellucid.serve.state.AppState`
(503 when there is none) and calls one function: of :mod:`pellucid.service` when a model is involved (hidden-state
drift, explaining a record) or the report is saved, else of :mod:`pellucid.monitor`; no SQL here. Pellucid errors become
JSON ``{"error": {"type", "message"}}`` responses — 404 for unknown ids and names, 422 for bad
input — so the router behaves the same mounted on the full app or on a bare one.

Alert rules with a ``command`` action run shell commands on the server, so creating them over
HTTP is refused (403) unless ``AppState.allow_alert_commands`` is true. Answers are described by
the models of :mod:`pellucid.serve.routers.analytics_schemas`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from pellucid.errors import Cancelled, InvalidInputError, PellucidError
from pellucid.serve import schemas
from pellucid.serve.json_errors import CLIENT_CLOSED
from pellucid.serve.routers import analytics_schemas as out
from pellucid.serve.state import app_state


def _status_for(exc: PellucidError) -> int:
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, Cancelled):
        return CLIENT_CLOSED
    return 400


class _PellucidErrorsAsJSON(APIRoute):
    """Routes whose Pellucid errors answer as JSON with a 4xx status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except PellucidError as exc:
                return JSONResponse(
                    status_code=getattr(exc, "status_code", None) or _status_for(exc),
                    content={"error": {"type": type(exc).__name__, "message": str(exc)}},
                )

        return route


class ServiceUnavailable(PellucidError):
    status_code = 503


class Forbidden(PellucidError):
    status_code = 403


router = APIRouter(tags=["analytics"], route_class=_PellucidErrorsAsJSON)


def _store(request: Request) -> Any:
    store = app_state(request).store
    if store is None:
        raise ServiceUnavailable("No monitoring store is configured; start the server with a database.")
    return store


def _window(spec: str | None) -> Any:
    from pellucid.monitor.windows import parse_window

    return parse_window(spec) if spec else None


# -- metrics over time ------------------------------------------------------------------
@router.get("/metrics", response_model=list[str])
def metric_names(request: Request) -> list[str]:
    """Every chartable metric: built-in ones, then stored enrichments."""
    return _store(request).repo.metric_names()


@router.get("/metrics/series", response_model=list[out.SeriesPoint])
def metric_series(
    request: Request,
    metric: str = Query(..., description="latency_ms, perplexity, flag:empty_prompt, feedback..."),
    bucket: int = Query(3600, ge=1, description="Bucket width in seconds."),
    window: str | None = Query(None, description="last:7d, version:v2, 2026-11-01..2026-11-15"),
    group_by: str | None = Query(None, description="model, model_version, template_version or language"),
    percentiles: bool = Query(False, description="Also each bucket's p50 and p95."),
) -> list[dict[str, Any]]:
    points = _store(request).repo.metric_series(
        metric, bucket=bucket, filter=_window(window), group_by=group_by, percentiles=percentiles
    )
    return [p.to_dict() for p in points]


@router.get("/metrics/summary", response_model=out.WindowSummary)
def metrics_summary(
    request: Request, window: str | None = Query(None, description="last:7d, version:v2, 2026-11-01..2026-11-15")
) -> dict[str, Any]:
    """The window at a glance: volume, error rate, p50/p95 latency and time to first token."""
    return _store(request).analytics.summary(_window(window))


@router.get("/correlation", response_model=out.FeedbackCorrelation)
def correlation(request: Request, metric: str, window: str | None = None) -> dict[str, Any]:
    """Spearman (and point-biserial) correlation of a per-record metric with feedback."""
    from pellucid.monitor.correlate import correlate

    return correlate(_store(request), metric, _window(window)).to_dict()


# -- drift ------------------------------------------------------------------------------
class DriftRequest(BaseModel):
    reference: str = Field(..., description="Reference window spec, e.g. last:30d or version:v1.")
    current: str = Field(..., description="Current window spec.")
    metrics: list[str] | None = Field(None, description="Scalar metrics (default: the usual set).")
    embeddings: list[str] = Field(default_factory=lambda: ["prompt", "response"])
    layer: int | None = Field(None, ge=0, description="Also test the serving model's hidden states here.")
    model: str | None = Field(None, description="Model for hidden-state drift (default model if omitted).")
    alpha: float = Field(0.05, gt=0, lt=1)
    n_permutations: int = Field(500, ge=10, le=5000)
    save: bool = True
    name: str | None = Field(None, max_length=200)


@router.post("/drift/reports", response_model=out.DriftRun, response_model_exclude_unset=True)
def run_drift_report(body: DriftRequest, request: Request) -> dict[str, Any]:
    """Run drift between two windows; saved unless ``save`` is false."""
    from pellucid.service.drift import drift_report

    store = _store(request)
    lm = None
    if body.layer is not None:
        models = app_state(request).models
        if models is None:
            raise ServiceUnavailable("Hidden-state drift needs models; this server has no model pool.")
        lm = models.get(body.model)
    report, saved = drift_report(
        store,
        body.reference,
        body.current,
        save=body.save,
        name=body.name,
        metrics=body.metrics,
        embeddings=body.embeddings,
        layer=body.layer,
        lm=lm,
        alpha=body.alpha,
        n_permutations=body.n_permutations,
    )
    if saved is not None:
        return {**report.to_dict(), "id": saved.id, "created_at": saved.created_at.isoformat()}
    return report.to_dict()


@router.get("/drift/distributions", response_model=out.DriftDistributions)
def drift_distributions(
    request: Request,
    reference: str = Query(..., description="Reference window spec, e.g. last:30d or version:v1."),
    current: str = Query(..., description="Current window spec."),
    metric: list[str] | None = Query(None, description="Scalar metrics (default: those drift tests)."),
    bins: int = Query(20, ge=1, le=200),
) -> dict[str, Any]:
    """Both windows of a comparison binned on shared edges, per metric (overlaid histograms)."""
    from pellucid.monitor.drift_histograms import describe_windows, window_histograms

    found, skipped = window_histograms(_store(request), reference, current, metrics=metric, bins=bins)
    ref, cur = describe_windows(reference, current)
    return {"reference": ref, "current": cur, "metrics": [h.to_dict() for h in found], "skipped": skipped}


@router.get("/drift/reports", response_model=list[out.DriftReportInfo], response_model_exclude_unset=True)
def list_drift_reports(request: Request, limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [r.to_dict(with_report=False) for r in _store(request).reports.list_drift_reports(limit=limit)]


@router.get("/drift/reports/{report_id}", response_model=out.DriftReportInfo)
def get_drift_report(report_id: str, request: Request) -> dict[str, Any]:
    return _store(request).reports.get_drift_report(report_id).to_dict()


# -- alerts -----------------------------------------------------------------------------
class AlertRuleRequest(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    condition: str = Field(..., description="e.g. 'mean(latency_ms) > 500 over 1h'")
    action: Literal["webhook", "command", "none"] = "none"
    target: str | None = Field(None, description="Webhook URL or shell command.")
    enabled: bool = True
    repeat_seconds: int | None = Field(None, ge=1)


class AlertRuleUpdate(BaseModel):
    enabled: bool


@router.get("/alerts/rules", response_model=list[out.AlertRule])
def list_alert_rules(request: Request) -> list[dict[str, Any]]:
    return [r.to_dict() for r in _store(request).alerts.list_alert_rules()]


@router.post("/alerts/rules", status_code=201, response_model=out.AlertRule)
def create_alert_rule(body: AlertRuleRequest, request: Request) -> dict[str, Any]:
    from pellucid.monitor.alerts import add_rule

    if body.action == "command" and not app_state(request).allow_alert_commands:
        raise Forbidden(
            "Alert rules that run shell commands cannot be created over HTTP on this server; use "
            "`pellucid monitor alerts add --command ...` on the host, or a webhook."
        )
    rule = add_rule(
        _store(request),
        body.name,
        body.condition,
        action=body.action,
        target=body.target,
        enabled=body.enabled,
        repeat_seconds=body.repeat_seconds,
    )
    return rule.to_dict()


@router.get("/alerts/rules/{rule}", response_model=out.AlertRule)
def get_alert_rule(rule: str, request: Request) -> dict[str, Any]:
    return _store(request).alerts.get_alert_rule(rule).to_dict()


@router.patch("/alerts/rules/{rule}", response_model=out.AlertRule)
def update_alert_rule(rule: str, body: AlertRuleUpdate, request: Request) -> dict[str, Any]:
    store = _store(request)
    found = store.alerts.get_alert_rule(rule)
    store.alerts.update_alert_rule(found.id, enabled=body.enabled)
    return store.alerts.get_alert_rule(found.id).to_dict()


@router.delete("/alerts/rules/{rule}", status_code=204, response_model=None)
def delete_alert_rule(rule: str, request: Request) -> Response:
    _store(request).alerts.remove_alert_rule(rule)
    return Response(status_code=204)


@router.get("/alerts/events", response_model=list[out.AlertEvent])
def alert_events(
    request: Request, rule: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return [e.to_dict() for e in _store(request).alerts.alert_history(rule, limit=limit)]


@router.post("/alerts/check", response_model=list[out.RuleCheck])
def check_alerts(request: Request, dry_run: bool = False) -> list[dict[str, Any]]:
    """Check every enabled rule now (``dry_run``: measure and say what would fire; change nothing)."""
    from pellucid.monitor.alerts import check_rules

    return [r.to_dict() for r in check_rules(_store(request), dry_run=dry_run)]


# -- evaluation runs --------------------------------------------------------------------
@router.get("/evals", response_model=list[out.EvalRun], response_model_exclude_unset=True)
def list_eval_runs(
    request: Request, limit: int = Query(50, ge=1, le=1000), name: str | None = None
) -> list[dict[str, Any]]:
    runs = _store(request).evals.list_eval_runs(limit=limit, name=name)
    return [r.to_dict(with_examples=False) for r in runs]


@router.get("/evals/compare", response_model=out.EvalComparison, response_model_exclude_unset=True)
def compare_eval_runs(request: Request, a: str, b: str) -> dict[str, Any]:
    """Two runs side by side (ids or names): aggregates, B − A, paired wins."""
    from pellucid.monitor.evaluation import compare_runs

    store = _store(request)
    run_a, run_b = store.evals.get_eval_run(a), store.evals.get_eval_run(b)
    return {
        "a": run_a.to_dict(with_examples=False),
        "b": run_b.to_dict(with_examples=False),
        "metrics": [r.to_dict() for r in compare_runs(run_a, run_b)],
    }


@router.get("/evals/{run}", response_model=out.EvalRun, response_model_exclude_unset=True)
def get_eval_run(run: str, request: Request, examples: bool = True) -> dict[str, Any]:
    return _store(request).evals.get_eval_run(run, with_examples=examples).to_dict(with_examples=examples)


# -- projection -------------------------------------------------------------------------
@router.get("/projection", response_model=out.Projection, response_model_exclude_unset=True)
def get_projection(
    request: Request,
    window: str | None = None,
    method: str = "pca",
    clusters: int | None = Query(8, ge=1, le=100),
    field: Literal["prompt", "response"] = "prompt",
    limit: int = Query(5000, ge=3, le=50_000),
) -> dict[str, Any]:
    """2-D points of the stored embeddings, each with its record id, KMeans cluster, text, model,
    version, flags and metrics (what the projector colours by)."""
    from pellucid.monitor.projection import projection

    result = projection(
        _store(request), _window(window), method=method, clusters=clusters, field=field, limit=limit, with_fields=True
    )
    return result.to_dict()


# -- explain a logged record ------------------------------------------------------------
class ExplainRecordRequest(BaseModel):
    method: str = "occlusion"
    params: dict[str, Any] = Field(default_factory=dict, description="Method parameters (see /api/methods).")
    model: str | None = Field(None, description="Explain with this model instead of the logged one.")
    granularity: str = "word"
    segments: list[str] = Field(default_factory=lambda: ["user"])


@router.post("/records/{record_id}/explanation", response_model=schemas.Explanation)
async def explain_logged_record(record_id: str, body: ExplainRecordRequest, request: Request) -> dict[str, Any]:
    """Attribute a logged response to its logged prompt, on the model that answered it.

    Stops at the method's next progress point when the client disconnects.
    """
    from pellucid.serve.disconnect import Progress, run_until_disconnect
    from pellucid.service.records import explain_record

    models = app_state(request).models
    if models is None:
        raise ServiceUnavailable("Explaining records needs models; this server has no model pool.")
    if "progress" in body.params:
        raise InvalidInputError("params.progress is not a method parameter; see GET /api/methods.")
    store = _store(request)

    def work(progress: Progress) -> dict[str, Any]:
        ex = explain_record(
            models,
            store,
            record_id,
            body.method,
            model=body.model,
            granularity=body.granularity,
            segments=tuple(body.segments),
            progress=progress,
            **body.params,
        )
        return ex.to_dict()

    return await run_until_disconnect(request, work)
