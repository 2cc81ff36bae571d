"""``create_app(settings, models, store)``: the FastAPI application, built by a factory.

Nothing is read from the environment here: the caller passes settings, the model pool and
(later) the store. Pellucid errors become JSON 4xx responses with the message.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pellucid import __version__
from pellucid.errors import InvalidInputError, ModelNotFoundError, PellucidError, PromptTooLongError
from pellucid.serve.routers import explanations, health, lm
from pellucid.service import ModelPool
from pellucid.settings import Settings


def _status_for(exc: PellucidError) -> int:
    if isinstance(exc, ModelNotFoundError):
        return 404
    if isinstance(exc, PromptTooLongError):
        return 413
    if isinstance(exc, InvalidInputError):
        return 422
    return 400


def create_app(settings: Settings, models: ModelPool, store: Any = None) -> FastAPI:
    """Build the app. ``models`` loads and shares LMs; ``store`` is the monitoring store."""
    app = FastAPI(title="Pellucid", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.models = models
    app.state.store = store

    @app.exception_handler(PellucidError)
    async def _pellucid_error(_request: Request, exc: PellucidError) -> JSONResponse:
        return JSONResponse(
            status_code=_status_for(exc),
            content={"error": {"type": type(exc).__name__, "message": str(exc)}},
        )

    app.include_router(health.router)
    app.include_router(lm.router, prefix="/api")
    app.include_router(explanations.router, prefix="/api")
    return app
