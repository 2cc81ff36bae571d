"""The workbench: the built web app at ``/`` and its files at ``/assets/*``; the API docs.

The app is TypeScript built by Vite (``frontend/``, ``scripts/build_frontend.sh``) into
``pellucid/serve/static/`` and shipped inside the wheel, so users need no Node. When the built
files are missing (a source checkout that was never built), ``/`` answers a short page saying
how to build them; the API keeps working either way.

The API docs (``/api/docs``) are Swagger UI, whose JavaScript and CSS the same build copies from
npm's ``swagger-ui-dist`` into ``static/docs-ui/`` (served at ``/docs-ui/*``): the docs work
offline, and nothing is fetched from a CDN (FastAPI's default would load them from one).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).resolve().parent.parent / "static"
OPENAPI_URL = "/api/openapi.json"

router = APIRouter(tags=["workbench"], include_in_schema=False)

_MISSING = """<!doctype html><html><head><meta charset="utf-8"><title>Pellucid workbench not built</title></head>
<body style="font-family:system-ui,sans-serif;max-width:44em;margin:3em auto;line-height:1.5">
<h1>The Pellucid workbench is not built</h1>
<p>The web app's files were not found in <code>{path}</code>.
Build them from a source checkout (needs Node.js 20+ and npm):</p>
<pre style="background:#f4f4f4;padding:1em">scripts/build_frontend.sh</pre>
<p>The API works without them: <a href="/api/openapi.json">/api/openapi.json</a> · <a href="/health">/health</a>.</p>
</body></html>"""


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/", response_class=HTMLResponse)
def index() -> Response:
    page = STATIC / "index.html"
    if not page.is_file():
        return HTMLResponse(_MISSING.format(path=STATIC), status_code=200)
    return _no_cache(FileResponse(page, media_type="text/html"))


@router.get("/assets/{name:path}")
def asset(name: str) -> FileResponse:
    root = (STATIC / "assets").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=404, detail=f"No workbench asset {name!r}")
    response = FileResponse(path)
    # Vite names assets by content hash: they never change under one name.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs() -> Response:
    """Swagger UI over the OpenAPI document, from the packaged files (see the module docstring)."""
    if not (STATIC / "docs-ui" / "swagger-ui-bundle.js").is_file():
        return HTMLResponse(_MISSING.format(path=STATIC / "docs-ui"), status_code=200)
    return _no_cache(
        get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="Pellucid API",
            swagger_js_url="/docs-ui/swagger-ui-bundle.js",
            swagger_css_url="/docs-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator either
        )
    )


@router.get("/docs-ui/{name}")
def docs_asset(name: str) -> FileResponse:
    root = (STATIC / "docs-ui").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=404, detail=f"No API docs file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "no-cache"})
