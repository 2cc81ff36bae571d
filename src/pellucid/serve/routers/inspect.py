"""Look inside the model over HTTP: ``POST /api/inspect/{verb}`` and ``GET /api/inspect``.

Each verb is run by :func:`pellucid.service.inspect.run_inspect`; its pydantic request model is
generated from the verb's spec (:mod:`pellucid.inspect_specs`), so its defaults, ranges and
choices are the library's. The answer is the :class:`~pellucid.types.Explanation` as JSON
(``to_dict()``), so the web front end draws every result with its one heat-map component.
``GET /api/inspect`` describes every verb and its parameters in the format of
``GET /api/methods`` (``name``, ``type``, ``default``, ``help``, ``choices``, ``min``, ``max``),
so the workbench builds its forms without per-verb code.

Errors answer ``{"error": {"type", "message"}}``: 422 for a malformed body (the message names
each bad field) or a bad value found by the method, 404 for an unknown verb or model.

Inspection installs hooks on the shared model; each hooked pass holds the model's exclusive lease
(``LM.hooks``), so gateway answers and other requests never run through another request's hooks.
Verbs run in a worker thread; when the client disconnects (the workbench's *Cancel*), the verb stops
before its next forward pass (see :mod:`pellucid.serve.disconnect`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pellucid.inspect_specs import PROMPT_EXAMPLE
from pellucid.inspect_specs import VERBS as INSPECT_VERBS
from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.json_errors import JSONErrorRoute, error_response
from pellucid.serve.schemas import Explanation, ParamSpec
from pellucid.serve.spec_models import request_model
from pellucid.serve.state import app_state
from pellucid.service.inspect import labelled_examples, run_inspect

Prompt = Annotated[str, Field(min_length=1, max_length=20_000, json_schema_extra={"widget": "text"})]


class _InspectRoute(JSONErrorRoute):
    hint = "See GET /api/inspect for the parameters."


router = APIRouter(tags=["inspect"], route_class=_InspectRoute)


# -- request models ---------------------------------------------------------------------
# Generated from the verbs' specs (pellucid.inspect_specs): the library's defaults, ranges and
# choices; only the inputs (prompts, probe examples) are declared here.
class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Model name (default: the server's model).")


def _request(verb: str, name: str, **inputs: tuple[Any, Any]) -> type[_Base]:
    declared = INSPECT_VERBS[verb]
    model = request_model(name, declared.spec.params, base=_Base, doc=declared.description, inputs=inputs)
    return cast(type[_Base], model)


_PROMPT = (Prompt, PROMPT_EXAMPLE)
_CLEAN_CORRUPTED = {"clean": _PROMPT, "corrupted": (Prompt, "The Colosseum is located in the city of")}
_EXAMPLES = Field(
    ...,
    min_length=4,
    max_length=5000,
    description="One example per line: 'label: text'.",
    json_schema_extra={"widget": "lines"},
)

AttentionRequest = _request("attention", "AttentionRequest", prompt=_PROMPT)
HeadSummaryRequest = _request("head_summary", "HeadSummaryRequest", prompt=_PROMPT)
LogitLensRequest = _request("logit_lens", "LogitLensRequest", prompt=_PROMPT)
DirectLogitRequest = _request("direct_logit", "DirectLogitRequest", prompt=_PROMPT)
PatchRequest = _request("patch", "PatchRequest", **_CLEAN_CORRUPTED)
AttributionPatchRequest = _request("attribution_patch", "AttributionPatchRequest", **_CLEAN_CORRUPTED)
TraceRequest = _request("trace", "TraceRequest", prompt=_PROMPT)
AblateRequest = _request("ablate", "AblateRequest", prompt=_PROMPT)
ProbeRequest = _request("probe", "ProbeRequest", examples=(list[str], _EXAMPLES))


# -- verbs ------------------------------------------------------------------------------
def _params(verb: str, body: Any) -> dict[str, Any]:
    """The body's values of the verb's parameters (its inputs and the model left out)."""
    return {p.name: getattr(body, p.name) for p in INSPECT_VERBS[verb].spec.params if p.api}


def _runner(verb: str) -> Callable[[Any, Any], Any]:
    """Run ``verb`` with the body's inputs (in the verb's order) and parameters."""

    def run(lm: Any, body: Any) -> Any:
        inputs = [getattr(body, name) for name in INSPECT_VERBS[verb].inputs]
        return run_inspect(verb, lm, *inputs, **_params(verb, body))

    return run


def _probe(lm: Any, b: Any) -> Any:
    return run_inspect("probe", lm, labelled_examples(b.examples), **_params("probe", b))


#: verb → (request model, function). Add a verb by adding a row.
VERBS: dict[str, tuple[type[_Base], Callable[[Any, Any], Any]]] = {
    "attention": (AttentionRequest, _runner("attention")),
    "head_summary": (HeadSummaryRequest, _runner("head_summary")),
    "logit_lens": (LogitLensRequest, _runner("logit_lens")),
    "direct_logit": (DirectLogitRequest, _runner("direct_logit")),
    "patch": (PatchRequest, _runner("patch")),
    "trace": (TraceRequest, _runner("trace")),
    "attribution_patch": (AttributionPatchRequest, _runner("attribution_patch")),
    "ablate": (AblateRequest, _runner("ablate")),
    "probe": (ProbeRequest, _probe),
}


# -- description for forms --------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = get_origin(annotation)
    if origin is list:
        inner = get_args(annotation)[0]
        return f"{getattr(inner, '__name__', 'str')}_list"
    if origin is Literal:
        return "str"
    return getattr(annotation, "__name__", "str")


def _choices(annotation: Any) -> list[Any] | None:
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return list(get_args(arg))
    return None


def _bound(info: Any, *names: str) -> float | None:
    for item in info.metadata:
        for name in names:
            value = getattr(item, name, None)
            if value is not None and not isinstance(value, bool):
                return value
    return None


def describe(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Each field of ``model`` as ``{name, type, default, help, choices, min, max, required, widget}``."""
    out = []
    common = list(_Base.model_fields)  # model and chat go last, after the verb's own fields
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] in common)
    for name, info in fields:
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append(
            {
                "name": name,
                "type": _type_name(info.annotation),
                "default": None if info.is_required() else info.default,
                "help": info.description or "",
                "choices": _choices(info.annotation),
                "min": _bound(info, "ge", "gt"),
                "max": _bound(info, "le", "lt"),
                "required": info.is_required(),
                "widget": extra.get("widget"),
            }
        )
    return out


# -- routes -----------------------------------------------------------------------------
def _unknown(verb: str) -> JSONResponse:
    return error_response(404, "UnknownVerb", f"Unknown inspect verb {verb!r}. Available: {', '.join(VERBS)}.")


class VerbSpec(BaseModel):
    """An inspect verb: what it shows and the parameters its form asks for."""

    name: str
    description: str
    params: list[ParamSpec]


@router.get("/inspect", response_model=list[VerbSpec])
def list_verbs() -> list[dict[str, Any]]:
    """Every verb with its description and parameters (the workbench builds its forms from this)."""
    return [
        {"name": verb, "description": (model.__doc__ or "").strip(), "params": describe(model)}
        for verb, (model, _) in VERBS.items()
    ]


def _endpoint(
    verb: str, model_cls: type[_Base], run: Callable[[Any, Any], Any]
) -> Callable[..., Coroutine[Any, Any, dict[str, Any]]]:
    async def endpoint(body: Any, request: Request) -> dict[str, Any]:
        models = app_state(request).pool()

        def work(token: CancelToken) -> dict[str, Any]:
            lm = models.get(body.model)  # loading may take seconds: not on the event loop
            with token.guard(lm):  # hooks take the model's exclusive lease themselves (LM.hooks)
                return cast(dict[str, Any], run(lm, body).to_dict())

        return await run_until_disconnect(request, work)

    endpoint.__annotations__ = {"body": model_cls, "request": Request, "return": dict[str, Any]}
    endpoint.__name__ = f"inspect_{verb}"
    endpoint.__doc__ = model_cls.__doc__
    return endpoint


for _verb, (_model, _run) in VERBS.items():
    router.add_api_route(
        f"/inspect/{_verb}",
        _endpoint(_verb, _model, _run),
        methods=["POST"],
        name=f"inspect_{_verb}",
        response_model=Explanation,
    )


@router.post("/inspect/{verb}", include_in_schema=False)
def unknown_verb(verb: str) -> Response:
    return _unknown(verb)
