"""Health: a small HTML page at ``/health`` and ``GET /api/health`` for probes (the workbench owns ``/``)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from pellucid import __version__
from pellucid.serve.state import app_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    default_model: str
    loaded_models: list[str]


@router.get("/api/health", response_model=Health)
def health(request: Request) -> Health:
    state = app_state(request)
    pool = state.pool()
    return Health(
        status="ok",
        version=__version__,
        default_model=state.config().default_model,
        loaded_models=pool.loaded(),
    )


@router.get("/health", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request) -> str:
    h = health(request)
    models = ", ".join(html.escape(m) for m in h.loaded_models) or "none yet"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Pellucid</title></head>"
        "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:3em auto'>"
        f"<h1>Pellucid {html.escape(h.version)}</h1><p>Status: <b>{h.status}</b>. Loaded models: {models}.</p>"
        "<p><a href='/'>Workbench</a> · API: <a href='/api/docs'>/api/docs</a> · "
        "<a href='/api/health'>/api/health</a></p></body></html>"
    )
