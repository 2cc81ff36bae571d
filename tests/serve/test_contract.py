"""The typed HTTP contract: every route declares its answer, the front end's types follow it.

- Every ``/api`` and ``/v1`` route has a pydantic response model, except the few listed in
  ``WITHOUT_MODEL`` (with the reason), which must still exist and document what they answer.
- ``frontend/src/lib/api-types.generated.ts`` is what the current API generates.
- Declaring a model changes no byte of an answer: the models reproduce the ``to_dict()`` they
  describe exactly (checked here on real objects; the API tests check the routes).
- Routers read shared state only through :class:`~pellucid.serve.state.AppState`.
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from pellucid.serve import api_types
from pellucid.serve.app import create_app
from pellucid.serve.schemas import Explanation as ExplanationModel
from pellucid.serve.state import AppState, ServerLacksError, install, state_of
from pellucid.service import ModelPool
from pellucid.settings import Settings
from pellucid.types import Explanation

ROOT = Path(__file__).resolve().parents[2]

#: (method, path) of routes that answer no JSON a model could describe.
WITHOUT_MODEL = {
    ("DELETE", "/api/alerts/rules/{rule}"): "204 No Content: no body",
    ("GET", "/api/audit/jobs/{job_id}/report.html"): "an HTML file",
    ("GET", "/api/docs"): "Swagger UI's HTML page, from the package's files",
    ("GET", "/api/records/export"): "a CSV (streamed) or Parquet file of the filtered records",
    ("GET", "/api/audit/jobs/{job_id}/card.md"): "a Markdown file download",
    ("POST", "/api/inspect/{verb}"): "hidden fallback: always the 404 error of an unknown verb",
    ("POST", "/v1/chat/completions"): "JSON or server-sent events; the JSON shape is in responses=",
    ("POST", "/v1/completions"): "JSON or server-sent events; the JSON shape is in responses=",
    ("POST", "/v1/traces"): "OTLP's ExportTraceServiceResponse, protobuf or its JSON mapping, as the client sent",
}
#: Streaming routes document their JSON answer with ``responses={200: {"model": ...}}``.
STREAMING = {("POST", "/v1/chat/completions"), ("POST", "/v1/completions")}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    return create_app(settings, ModelPool(settings))


def _api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if isinstance(route, APIRoute) and path.startswith(("/api/", "/v1/")):
            found.extend((method, path, route) for method in sorted(context.methods or ()))
    return found


def _is_typed(annotation: Any) -> bool:
    """A pydantic model, a scalar, or a list/union of those; never a bare dict or Any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    if annotation in (str, int, float, bool, type(None)):
        return True
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType):
        return all(_is_typed(arg) for arg in get_args(annotation))
    return False


def test_every_route_declares_a_response_model(app: FastAPI) -> None:
    routes = _api_routes(app)
    assert len(routes) > 40  # the walk reached the included routers
    untyped = [
        f"{method} {path}: {route.response_model!r}"
        for method, path, route in routes
        if (method, path) not in WITHOUT_MODEL and not _is_typed(route.response_model)
    ]
    assert untyped == [], "routes answering untyped JSON: " + "; ".join(untyped)


def test_routes_without_a_model_exist_and_document_their_answer(app: FastAPI) -> None:
    by_key = {(method, path): route for method, path, route in _api_routes(app)}
    assert set(WITHOUT_MODEL) <= set(by_key), sorted(set(WITHOUT_MODEL) - set(by_key))
    for key, route in by_key.items():
        if key in WITHOUT_MODEL:
            assert route.response_model is None, f"{key} has a model now: drop it from WITHOUT_MODEL"
    paths = app.openapi()["paths"]
    for method, path in STREAMING:
        content = paths[path][method.lower()]["responses"]["200"]["content"]
        assert "text/event-stream" in content
        assert content["application/json"]["schema"]["$ref"].endswith(("/ChatCompletion", "/Completion"))
    html = paths["/api/audit/jobs/{job_id}/report.html"]["get"]["responses"]["200"]["content"]
    assert "text/html" in html


def test_the_generated_typescript_is_up_to_date() -> None:
    committed = (ROOT / api_types.TARGET).read_text(encoding="utf-8")
    assert committed == api_types.render(api_types.openapi_document()), (
        f"{api_types.TARGET} is stale: run `python -m pellucid.serve.api_types` and commit it."
    )
    assert api_types.main(["--check", "--root", str(ROOT)]) == 0


def test_the_converter_covers_what_pydantic_emits() -> None:
    schema = {
        "type": "object",
        "description": "A thing.",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "one": {"const": 1},
            "grid": {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            "ref": {"$ref": "#/components/schemas/Other-Output"},
            "map": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "any": {"title": "Any"},
            "weird-key": {"type": "string"},
        },
        "required": ["kind", "grid"],
        "additionalProperties": True,
    }
    text = api_types.declaration("Thing", schema)
    assert text == (
        "/** A thing. */\nexport interface Thing {\n"
        '  kind: "a" | "b";\n  one?: 1;\n  grid: (number | null)[];\n  pair?: [string, number];\n'
        '  ref?: OtherOutput;\n  map?: Record<string, boolean>;\n  any?: unknown;\n  "weird-key"?: string;\n'
        "  [key: string]: unknown;\n}\n"
    )
    with pytest.raises(ValueError, match="outside the supported subset"):
        api_types.ts_type({"not": {"type": "string"}})


def test_the_explanation_model_changes_no_byte() -> None:
    scores = np.array([[0.5, np.nan, -1.25], [2.0, 0.0, 3.5]])
    ex = Explanation(
        scores=scores,
        axes=("target", "input"),
        labels={"target": ["a", "b"], "input": ["x", "y", "z"]},
        method="occlusion",
        model="tiny",
        params={"window": 2},
        meta={"residual": float("nan"), "note": "ok"},
    )
    data = ex.to_dict()
    dumped = ExplanationModel.model_validate(data).model_dump(mode="json", exclude_unset=True)
    assert json.dumps(dumped) == json.dumps(data)
    assert dumped["scores"][0][1] is None


def test_routers_read_shared_state_through_app_state() -> None:
    offenders = []
    for path in sorted((ROOT / "src/pellucid/serve").rglob("*.py")):
        if path.name == "state.py":  # the accessor itself
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"getattr\(\s*(request\.)?app\.state|request\.app\.state\.", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_bare_app_gets_an_empty_state_that_says_what_it_lacks() -> None:
    app = FastAPI()
    state = state_of(app)
    assert state is state_of(app) and state.store is None and state.jobs is not None
    with pytest.raises(ServerLacksError, match="no model pool") as raised:
        state.pool()
    assert raised.value.status_code == 503
    custom = install(FastAPI(), AppState(allow_alert_commands=True))
    assert custom.allow_alert_commands is True
