"""``create_app(settings, models, store)``: the FastAPI application, built by a factory.

Nothing is read from the environment here: the caller passes settings, the model pool and
the monitoring store (``None``: nothing is logged and ``/api/records`` answers 503). With a
store, the app owns a :class:`~pellucid.monitor.Monitor` whose batched writer logs every
``/v1`` call; the app's lifespan closes it on shutdown, writing everything still queued. The
store itself stays the caller's to close. With ``settings.otlp_endpoint`` every stored record is
also exported as an OTLP span (see :mod:`pellucid.serve.otlp_export`), flushed at shutdown.

Errors: Pellucid errors become JSON responses ``{"error": {"type", "message"}}`` with a 4xx/5xx
status; under ``/v1`` every error (validation included) has the OpenAI shape instead (see
:mod:`pellucid.serve.openai_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pellucid import __version__
from pellucid.errors import Cancelled, InvalidInputError, ModelNotFoundError, PellucidError, PromptTooLongError
from pellucid.monitor.errors import RecordNotFoundError, StoreBusyError, StoreError
from pellucid.serve import security
from pellucid.serve.gateway import Gateway
from pellucid.serve.jobs import JobRegistry
from pellucid.serve.json_errors import CLIENT_CLOSED
from pellucid.serve.openai_errors import OpenAIError, from_exception, from_validation
from pellucid.serve.otlp_export import OtlpExporter, build_exporter
from pellucid.serve.proxy import Proxy
from pellucid.serve.proxy_fast import GatewayAPI, ProxyEndpoint
from pellucid.serve.proxy_models import local_token_counter
from pellucid.serve.rejected_calls import log_rejected
from pellucid.serve.routers import (
    analytics,
    audit,
    counterfactual,
    datasets,
    explanations,
    features,
    graphs,
    health,
    inspect,
    lm,
    openai,
    otlp,
    progress,
    proxy,
    records,
    serving,
    traces,
    ui,
)
from pellucid.serve.state import AppState, ServerLacksError, app_state, install
from pellucid.serve.upstreams import UpstreamTimeouts, upstreams_of
from pellucid.service import ModelPool
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.monitor import Monitor, Store
    from pellucid.monitor.writer import Redactor

log = logging.getLogger(__name__)


def _status_for(exc: PellucidError) -> int:
    if isinstance(exc, (ModelNotFoundError, RecordNotFoundError)):
        return 404
    if isinstance(exc, PromptTooLongError):
        return 413
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, StoreBusyError):
        return 429
    if isinstance(exc, (StoreError, ServerLacksError)):
        return 503
    if isinstance(exc, Cancelled):
        return CLIENT_CLOSED
    return 400


def _is_v1(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _redactor(settings: Settings) -> Redactor | None:
    from pellucid.audit.pii import redact

    return redact if settings.redact_pii else None


def build_monitor(settings: Settings, store: Store, exporter: OtlpExporter | None = None) -> Monitor:
    """The monitor logging gateway calls into ``store``: quality flags, PII redaction if enabled,
    and each stored batch handed to ``exporter`` (OpenTelemetry out) if given.

    With ``settings.durable`` the journal of a crashed run is replayed into the store first, and
    every record is then journaled to disk before ``log`` returns (see ``pellucid.monitor.durable``)."""
    from pellucid.monitor import BatchWriter, Monitor, Preparer

    prepare = Preparer(redactor=_redactor(settings))
    on_written = exporter.submit if exporter is not None else None
    if settings.durable:
        from pellucid.monitor.durable import durable_monitor, journal_folder

        folder = journal_folder(settings.home, store)
        monitor, report = durable_monitor(
            store, folder, prepare=prepare, on_written=on_written, commit_window=settings.durable_window_ms / 1000
        )
        log.info("Durable mode: journal in %s; replayed %s", folder, report.to_dict())
        return monitor
    return Monitor(store, writer=BatchWriter(store.repo, prepare=prepare, on_written=on_written))


def _background_workers(settings: Settings, models: ModelPool, store: Store) -> list[Any]:
    """The enrichment worker (embeddings, perplexity, entropy), the alert scheduler and, with
    ``PELLUCID_ENRICH_FEATURES``, the feature enricher on the served model (the dictionary must
    have been trained for it: loading refuses another model or width)."""
    from pellucid.monitor.alerts import AlertScheduler
    from pellucid.service.enrichment import Enricher

    workers: list[Any] = [Enricher(store, settings, pool=models), AlertScheduler(store, interval=60.0)]
    if settings.enrich_features is not None:
        from pellucid.service.feature_enrichment import FeatureEnricher

        workers.append(FeatureEnricher(store, settings.enrich_features, models.get()))
    return workers


def _forwarder(settings: Settings, gateway: Gateway, models: ModelPool) -> Proxy | None:
    """Proxy mode's forwarder when upstreams are configured (``None``: every model is local)."""
    upstreams = upstreams_of(settings)
    if not upstreams:
        return None
    timeouts = UpstreamTimeouts.from_settings(settings)
    counter = local_token_counter(models)
    return Proxy(gateway, upstreams, count_tokens=counter, timeouts=timeouts, serve_local=settings.serve_local)


def _lifespan(
    workers: list[Any], forwarder: Proxy | None, jobs: JobRegistry, models: ModelPool, monitor: Monitor | None,
    exporter: OtlpExporter | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:  # fmt: skip
    """Start the background workers and the proxy's client with the app; at shutdown stop them,
    cancel running jobs, end the batching engines and write (then export) every record still queued."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for worker in workers:
            worker.start()
        if forwarder is not None:
            await forwarder.start()
        yield
        if forwarder is not None:
            await forwarder.close()
        jobs.shutdown()
        models.close_engines()  # streams still generating end with a "retry later" error
        for worker in workers:
            worker.stop()
        if monitor is not None:
            try:
                monitor.close()
            except StoreError as exc:
                log.error("Monitoring records were lost at shutdown: %s", exc)
        if exporter is not None:
            exporter.close()  # after the writer: its last batches are exported too

    return lifespan


def _install_error_handlers(app: FastAPI) -> None:
    """Pellucid errors as ``{"error": {...}}`` with their status; every error under ``/v1`` in the OpenAI shape."""

    @app.exception_handler(PellucidError)
    async def _pellucid_error(request: Request, exc: PellucidError) -> JSONResponse:
        if _is_v1(request):
            return from_exception(exc).response()
        return JSONResponse(
            status_code=_status_for(exc),
            content={"error": {"type": type(exc).__name__, "message": str(exc)}},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if not _is_v1(request):
            return await request_validation_exception_handler(request, exc)
        error = from_validation(exc)
        gateway = app_state(request).openai_gateway()
        args = (gateway, request, exc.body, error.message, error.status)
        call = await anyio.to_thread.run_sync(log_rejected, *args) if gateway.durable else log_rejected(*args)
        return error.response(call.headers if call is not None else None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_v1(request):
            return await http_exception_handler(request, exc)
        code = "not_found" if exc.status_code == 404 else None
        message = f"{request.method} {request.url.path}: {exc.detail}."
        return OpenAIError(exc.status_code, message, code=code).response()


def _include_routers(app: FastAPI, proxy_mode: bool) -> None:
    """Every route: health, the ``/api`` routers, ``/v1`` (local or proxied), OTLP ingest, the workbench.

    In proxy mode ``/v1`` comes first: routes are matched in order, and a proxied call is the hot
    path (a millisecond budget), so it should not be tried against every ``/api`` route first.
    """
    if proxy_mode:
        app.include_router(proxy.router)
    app.include_router(health.router)
    for router in (lm, serving, explanations, records, analytics, inspect, audit, counterfactual, traces, progress):
        app.include_router(router.router, prefix="/api")
    app.include_router(features.router, prefix="/api")
    app.include_router(graphs.router, prefix="/api")
    app.include_router(datasets.router, prefix="/api")
    if not proxy_mode:
        app.include_router(openai.router)
    app.include_router(otlp.router)
    app.include_router(ui.router)


def create_app(
    settings: Settings, models: ModelPool, store: Store | None = None, *, background: bool = False
) -> FastAPI:
    """Build the app. ``models`` loads and shares LMs; ``store`` is the monitoring store (optional).

    With ``background=True`` (what ``pellucid serve`` does) and a store, the app's lifespan also
    runs the enrichment worker and the alert scheduler in threads, stopped at shutdown.
    Background jobs (audits, ``AppState.jobs``) still running at shutdown are cancelled.
    """
    models = security.served_models(models, settings)  # requests name only served models
    exporter = build_exporter(settings.otlp_endpoint, settings.otlp_headers) if store is not None else None
    monitor = build_monitor(settings, store, exporter) if store is not None else None
    workers = _background_workers(settings, models, store) if background and store is not None else []
    jobs = JobRegistry(workers=1, history=20)
    gateway = Gateway(settings, models, monitor, _redactor(settings))
    forwarder = _forwarder(settings, gateway, models)
    app = GatewayAPI(
        title="Pellucid",
        version=__version__,
        docs_url=None,  # served by the ui router with the packaged Swagger UI (no CDN)
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan(workers, forwarder, jobs, models, monitor, exporter),
    )
    security.install(app, settings)  # token, body-size limit, CORS, Retry-After
    if forwarder is not None and not forwarder.serve_local:  # proxied calls' short way, behind the same security
        app.proxy_path = security.wrap(ProxyEndpoint(forwarder), settings)
    install(app, AppState(settings, models, store, monitor, jobs, gateway, proxy=forwarder, exporter=exporter))
    _install_error_handlers(app)
    _include_routers(app, proxy_mode=forwarder is not None)
    return app
