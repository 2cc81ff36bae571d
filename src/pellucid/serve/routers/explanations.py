"""Explanations: ``POST /api/explanations`` runs a method; ``GET /api/methods`` describes them all.

The method runs in a worker thread; if the client disconnects (the workbench's *Cancel*), it
stops at its next progress point or forward pass (see :mod:`pellucid.serve.disconnect`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from pellucid import service
from pellucid.errors import InvalidInputError
from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.schemas import Explanation, ParamSpec
from pellucid.serve.security import Text
from pellucid.serve.state import app_state

router = APIRouter(tags=["explanations"])


class ExplainRequest(BaseModel):
    prompt: Text = Field(..., min_length=1, max_length=20_000)
    target: Text | None = Field(None, max_length=20_000, description="Text to explain; default: the model's answer.")
    method: str = "occlusion"
    params: dict[str, Any] = Field(default_factory=dict, description="Method parameters (see /api/methods).")
    model: str | None = None
    raw: bool = False
    system: Text | None = Field(None, max_length=20_000)
    foil: Text | None = Field(None, max_length=20_000)
    target_kind: str = "logprob"
    granularity: str = "word"
    segments: list[str] = Field(default_factory=lambda: ["user"])
    max_new_tokens: int = Field(32, ge=1, le=512)
    seed: int = Field(0, ge=0, le=2**64 - 1)


class MethodSpec(BaseModel):
    """An attribution method: what it computes and the parameters its form shows."""

    name: str
    description: str
    signed: bool = Field(description="Whether its scores have a sign.")
    kind: str
    params: list[ParamSpec]


@router.get("/methods", response_model=list[MethodSpec], response_model_exclude_unset=True)
def methods() -> list[dict[str, Any]]:
    return service.list_methods()


@router.post("/explanations", response_model=Explanation)
async def create_explanation(body: ExplainRequest, request: Request) -> dict[str, Any]:
    if "progress" in body.params:
        raise InvalidInputError("params.progress is not a method parameter; see GET /api/methods.")
    models = app_state(request).pool()

    def work(token: CancelToken) -> dict[str, Any]:
        lm = models.get(body.model)  # loading may take seconds: not on the event loop
        with token.guard(lm):  # also stops the answer's generation, before the first progress point
            ex = service.explain(
                lm,
                body.prompt,
                target=body.target,
                method=body.method,
                raw=body.raw,
                system=body.system,
                foil=body.foil,
                target_kind=body.target_kind,
                granularity=body.granularity,
                segments=tuple(body.segments),
                max_new_tokens=body.max_new_tokens,
                seed=body.seed,
                progress=token,
                **body.params,
            )
        return ex.to_dict()

    return await run_until_disconnect(request, work)
