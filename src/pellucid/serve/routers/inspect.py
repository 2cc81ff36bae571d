"""Look inside the model over HTTP: ``POST /api/inspect/{verb}`` and ``GET /api/inspect``.

Each verb is one function of :mod:`pellucid.inspect` with a pydantic request model; the answer
is the :class:`~pellucid.types.Explanation` as JSON (``to_dict()``), so the web front end draws
every result with its one heat-map component. ``GET /api/inspect`` describes every verb and its
parameters in the format of ``GET /api/methods`` (``name``, ``type``, ``default``, ``help``,
``choices``, ``min``, ``max``), so the workbench builds its forms without per-verb code.

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

from pellucid.errors import InvalidInputError
from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.json_errors import JSONErrorRoute, error_response

Layers = list[int] | None
Prompt = Annotated[str, Field(min_length=1, max_length=20_000, json_schema_extra={"widget": "text"})]


class _InspectRoute(JSONErrorRoute):
    hint = "See GET /api/inspect for the parameters."


router = APIRouter(tags=["inspect"], route_class=_InspectRoute)


# -- request models ---------------------------------------------------------------------
class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Model name (default: the server's model).")
    chat: bool = Field(False, description="Apply the chat template (next-token analyses usually read raw text).")


class AttentionRequest(_Base):
    """Attention weights of each head: head × query × key."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    layers: Layers = Field(None, description="Layers to read, comma-separated (default: all).")
    heads: list[int] | None = Field(None, description="Heads to keep, comma-separated (default: all).")


class HeadSummaryRequest(_Base):
    """How focused each head is: mean attention entropy over layer × head (click a head for its map)."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    layers: Layers = Field(None, description="Layers to read (default: all).")


class LogitLensRequest(_Base):
    """What each layer would predict: layer × position."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    target: str | None = Field(None, description="Token to score, e.g. ' Paris' (default: the model's own top-1).")
    score: Literal["prob", "logprob", "rank"] = Field("prob", description="What each cell shows.")
    top_k: int = Field(5, ge=1, le=50, description="Top predictions kept per cell.")
    layers: Layers = Field(None, description="Layers (default: all).")
    include_embed: bool = Field(False, description="Add a row for the embeddings.")


class DirectLogitRequest(_Base):
    """Who writes the answer directly: per-layer (or per-head) shares of the target's logit."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    target: str = Field(" Paris", min_length=1, description="Next token whose logit is decomposed.")
    foil: str | None = Field(None, description="Contrast token: decompose target − foil.")
    by: Literal["layer", "head"] = Field("layer", description="layer: attn and MLP per layer; head: each head.")


class _PatchBase(_Base):
    clean: Prompt = "The Eiffel Tower is located in the city of"
    corrupted: Prompt = "The Colosseum is located in the city of"
    target: str = Field(" Paris", min_length=1, description="Next token to compare.")
    foil: str | None = Field(None, description="Contrast token (metric: logit difference).")
    site: Literal["resid_pre", "resid_post", "attn.out", "mlp.out", "heads"] = Field(
        "resid_pre", description="Activation patched; heads gives layer × head."
    )
    metric: Literal["logit_diff", "prob", "logprob"] | None = Field(
        None, description="Default: logit_diff with a foil."
    )
    layers: Layers = Field(None, description="Layers (default: all).")
    positions: list[int] | None = Field(None, description="Positions (default: all).")
    align: bool = Field(True, description="Pad the shorter prompt where the two differ.")


class PatchRequest(_PatchBase):
    """Activation patching: which activations carry the clean/corrupted difference (layer × position)."""

    direction: Literal["denoise", "noise"] = Field("denoise", description="denoise: clean into corrupted.")
    normalize: bool = Field(True, description="Scale so clean = 1 and corrupted = 0.")


class AttributionPatchRequest(_PatchBase):
    """Patching estimated from one backward pass (fast; compare with the exact sweep)."""

    compare: bool = Field(False, description="Also run the exact sweep and report the agreement.")


class TraceRequest(_Base):
    """Causal tracing (ROME): where a fact is recalled, with the subject corrupted by noise."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    target: str = Field(" Paris", min_length=1, description="Answer token.")
    subject: str = Field("Eiffel Tower", min_length=1, description="Text in the prompt to corrupt.")
    samples: int = Field(10, ge=1, le=100, description="Noise samples averaged.")
    noise: float = Field(3.0, gt=0, le=100, description="Noise std in embedding std units.")
    seed: int = Field(0, description="Random seed.")
    site: Literal["resid_post", "mlp.out", "attn.out"] = Field("resid_post", description="State restored.")
    window: int = Field(1, ge=1, le=64, description="Consecutive layers restored together.")
    layers: Layers = Field(None, description="Layers (default: all).")


class AblateRequest(_Base):
    """Change in p(target) when each component is ablated."""

    prompt: Prompt = "The Eiffel Tower is located in the city of"
    target: str = Field(" Paris", min_length=1, description="Next token whose probability is measured.")
    what: Literal["heads", "attn", "mlp", "layers", "neurons"] = Field("heads", description="Components ablated.")
    how: Literal["zero", "mean"] = Field("zero", description="Replace with zeros or the mean activation.")
    layers: Layers = Field(None, description="Layers (default: all).")
    heads: list[int] | None = Field(None, description="Heads (default: all).")
    neurons: list[str] | None = Field(None, description="For what=neurons: layer.index, e.g. 3.512.")
    joint: bool = Field(False, description="Ablate all chosen components at once.")


class ProbeRequest(_Base):
    """Linear-probe accuracy by layer, cross-validated, with a control task."""

    examples: list[str] = Field(
        ...,
        min_length=4,
        max_length=5000,
        description="One example per line: 'label: text'.",
        json_schema_extra={"widget": "lines"},
    )
    layers: Layers = Field(None, description="Layers (default: all).")
    cv: int = Field(3, ge=2, le=10, description="Cross-validation folds.")
    control: bool = Field(True, description="Also fit a control task (selectivity).")


# -- verbs ------------------------------------------------------------------------------
def _attention(lm: Any, b: AttentionRequest) -> Any:
    from pellucid.inspect import attention

    return attention(lm, b.prompt, layers=b.layers, heads=b.heads, chat=b.chat)


def _head_summary(lm: Any, b: HeadSummaryRequest) -> Any:
    from pellucid.inspect import head_summary

    return head_summary(lm, b.prompt, layers=b.layers, chat=b.chat)


def _logit_lens(lm: Any, b: LogitLensRequest) -> Any:
    from pellucid.inspect import logit_lens

    return logit_lens(
        lm, b.prompt, target=b.target or None, layers=b.layers, score=b.score, top_k=b.top_k,
        include_embed=b.include_embed, chat=b.chat,
    )  # fmt: skip


def _direct_logit(lm: Any, b: DirectLogitRequest) -> Any:
    from pellucid.inspect import direct_logit_attribution

    return direct_logit_attribution(lm, b.prompt, target=b.target, foil=b.foil or None, by=b.by, chat=b.chat)


def _patch_args(b: _PatchBase) -> dict[str, Any]:
    return {
        "target": b.target, "foil": b.foil or None, "site": b.site, "metric": b.metric, "layers": b.layers,
        "positions": b.positions, "chat": b.chat, "align": b.align,
    }  # fmt: skip


def _patch(lm: Any, b: PatchRequest) -> Any:
    from pellucid.inspect import patch

    return patch(lm, b.clean, b.corrupted, direction=b.direction, normalize=b.normalize, **_patch_args(b))


def _attribution_patch(lm: Any, b: AttributionPatchRequest) -> Any:
    from pellucid.inspect import attribution_patch

    return attribution_patch(lm, b.clean, b.corrupted, compare=b.compare, **_patch_args(b))


def _trace(lm: Any, b: TraceRequest) -> Any:
    from pellucid.inspect import trace

    return trace(
        lm, b.prompt, target=b.target, subject=b.subject, samples=b.samples, noise=b.noise, seed=b.seed,
        site=b.site, window=b.window, layers=b.layers, chat=b.chat,
    )  # fmt: skip


def _ablate(lm: Any, b: AblateRequest) -> Any:
    from pellucid.inspect import ablate

    return ablate(
        lm, b.prompt, target=b.target, what=b.what, how=b.how, layers=b.layers, heads=b.heads,
        neurons=b.neurons, joint=b.joint, chat=b.chat,
    )  # fmt: skip


def _probe_data(lines: list[str]) -> Any:
    from pellucid.inspect import LabelledData

    texts, labels = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        label, sep, text = line.partition(":")
        if not sep or not label.strip() or not text.strip():
            raise InvalidInputError(f"examples line {n} is {line!r}; write 'label: text'.")
        labels.append(label.strip())
        texts.append(text.strip())
    return LabelledData(texts=texts, labels=labels, level="sentence", source="request")


def _probe(lm: Any, b: ProbeRequest) -> Any:
    from pellucid.inspect import probe

    return probe(lm, _probe_data(b.examples), layers=b.layers, cv=b.cv, control=b.control, chat=b.chat)


#: verb → (request model, function). Add a verb by adding a row.
VERBS: dict[str, tuple[type[_Base], Callable[[Any, Any], Any]]] = {
    "attention": (AttentionRequest, _attention),
    "head_summary": (HeadSummaryRequest, _head_summary),
    "logit_lens": (LogitLensRequest, _logit_lens),
    "direct_logit": (DirectLogitRequest, _direct_logit),
    "patch": (PatchRequest, _patch),
    "trace": (TraceRequest, _trace),
    "attribution_patch": (AttributionPatchRequest, _attribution_patch),
    "ablate": (AblateRequest, _ablate),
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


@router.get("/inspect")
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
        models = request.app.state.models

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
    router.add_api_route(f"/inspect/{_verb}", _endpoint(_verb, _model, _run), methods=["POST"], name=f"inspect_{_verb}")


@router.post("/inspect/{verb}", include_in_schema=False)
def unknown_verb(verb: str) -> Response:
    return _unknown(verb)
