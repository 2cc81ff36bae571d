"""What a running app shares between requests, as one typed object: :class:`AppState`.

``create_app`` builds one :class:`AppState` (settings, the model pool, the monitoring store and
its monitor, the background job registry, the ``/v1`` gateway) and stores it with
:func:`install` on ``app.state``. Routes read it through :func:`app_state` (or the FastAPI
dependency :data:`AppStateDep`), so every field has a type a checker can follow, instead of
``getattr(app.state, "store", None)`` scattered over the routers.

A router mounted on a bare app (a test of one resource) installs a partial state, e.g.
``install(app, AppState(store=store))``: fields it leaves out are ``None``, and the routes that
need them answer 503 with a sentence saying what the server lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request

from pellucid.errors import PellucidError
from pellucid.serve.disconnect import ProgressBoard
from pellucid.serve.jobs import JobRegistry

if TYPE_CHECKING:
    from pellucid.monitor import Monitor, Store
    from pellucid.serve.gateway import Gateway
    from pellucid.serve.otlp_export import OtlpExporter
    from pellucid.serve.proxy import Proxy
    from pellucid.service import ModelPool
    from pellucid.settings import Settings

#: The attribute of ``app.state`` holding the :class:`AppState`.
ATTRIBUTE = "pellucid"


class ServerLacksError(PellucidError):
    """This server was started without what the request needs (no model pool, no store): 503."""

    status_code = 503


@dataclass
class AppState:
    """Everything routes share. ``None`` fields are parts this server runs without.

    Attributes:
        settings: the server's settings (``None`` only on a bare test app).
        models: the pool requests load and share models from.
        store: the monitoring store (``None``: nothing is logged, ``/api/records`` answers 503).
        monitor: the batched writer logging ``/v1`` calls into ``store``.
        jobs: background jobs (audits).
        gateway: the OpenAI-compatible gateway behind ``/v1``.
        allow_alert_commands: whether alert rules that run shell commands may be created over HTTP.
        proxy: the forwarder to upstream OpenAI-compatible servers (``None``: ``/v1`` is served locally).
        exporter: the OTLP exporter of logged calls (``None`` unless OpenTelemetry out is configured).
        progress: the progress of running requests that asked for it (``GET /api/progress/{id}``).
    """

    settings: Settings | None = None
    models: ModelPool | None = None
    store: Store | None = None
    monitor: Monitor | None = None
    jobs: JobRegistry = field(default_factory=JobRegistry)
    gateway: Gateway | None = None
    allow_alert_commands: bool = False
    proxy: Proxy | None = None
    exporter: OtlpExporter | None = None
    progress: ProgressBoard = field(default_factory=ProgressBoard)

    def pool(self) -> ModelPool:
        """The model pool, or :class:`ServerLacksError` (503) when this server has none."""
        if self.models is None:
            raise ServerLacksError("This server has no model pool; start it with `pellucid serve`.")
        return self.models

    def config(self) -> Settings:
        """The settings, or :class:`ServerLacksError` (503) on an app built without them."""
        if self.settings is None:
            raise ServerLacksError("This server was built without settings; build it with create_app(settings, ...).")
        return self.settings

    def openai_gateway(self) -> Gateway:
        """The ``/v1`` gateway, or :class:`ServerLacksError` (503) on an app built without one."""
        if self.gateway is None:
            raise ServerLacksError("This server has no /v1 gateway; build it with create_app(settings, models).")
        return self.gateway


def install(app: FastAPI, state: AppState) -> AppState:
    """Store ``state`` on ``app`` (what :func:`app_state` returns from then on)."""
    setattr(app.state, ATTRIBUTE, state)
    return state


def state_of(app: FastAPI) -> AppState:
    """The :class:`AppState` installed on ``app``; an app without one gets an empty state."""
    state = getattr(app.state, ATTRIBUTE, None)
    if state is None:
        state = install(app, AppState())
    if not isinstance(state, AppState):
        raise TypeError(f"app.state.{ATTRIBUTE} is a {type(state).__name__}, not an AppState; set it with install().")
    return state


def app_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request`` (also a FastAPI dependency)."""
    return state_of(request.app)


#: A route parameter ``state: AppStateDep`` receives the app's :class:`AppState`.
AppStateDep = Annotated[AppState, Depends(app_state)]
