"""Models, generation and scoring: ``/api/models``, ``/api/generate``, ``/api/score``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field

from pellucid import service
from pellucid.serve.security import Text, greedy_if_tiny
from pellucid.serve.state import app_state

router = APIRouter(tags=["models"])


class GenerateRequest(BaseModel):
    prompt: Text = Field(..., min_length=1, max_length=100_000)
    model: str | None = None
    raw: bool = False
    system: Text | None = Field(None, max_length=100_000)
    max_new_tokens: int = Field(64, ge=1, le=4096)
    temperature: Annotated[float, AfterValidator(greedy_if_tiny)] = Field(0.0, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)


class ScoreRequest(BaseModel):
    prompt: Text = Field(..., min_length=1, max_length=100_000)
    target: Text = Field(..., min_length=1, max_length=100_000)
    model: str | None = None
    raw: bool = False
    system: Text | None = Field(None, max_length=100_000)


class ModelInfo(BaseModel):
    """One model Pellucid knows (``pellucid models``): what it is and where it lives."""

    name: str
    kind: str
    status: str = Field(description="converted, bundled, cached or not installed.")
    architecture: str | None
    layers: int | None
    heads: int | None
    d_model: int | None
    context_length: int | None
    size_bytes: int | None
    location: str | None
    description: str


class Generation(BaseModel):
    """A generated continuation with the log-probability of each generated token (null: -inf)."""

    model: str
    prompt: str
    text: str
    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float | None]
    finish_reason: str
    params: dict[str, Any]


class TokenScores(BaseModel):
    """Teacher-forced log-probabilities of a target after a prompt, per token and in total."""

    model: str
    prompt: str
    target: str
    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float | None]
    total: float | None


@router.get("/models", response_model=list[ModelInfo])
def list_models(request: Request) -> list[dict[str, Any]]:
    return [e.to_dict() for e in service.list_models(app_state(request).config())]


@router.post("/generate", response_model=Generation)
def generate(body: GenerateRequest, request: Request) -> dict[str, Any]:
    lm = app_state(request).pool().get(body.model)
    out = service.generate(
        lm,
        body.prompt,
        raw=body.raw,
        system=body.system,
        max_new_tokens=body.max_new_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
    )
    return out.to_dict()


@router.post("/score", response_model=TokenScores)
def score(body: ScoreRequest, request: Request) -> dict[str, Any]:
    lm = app_state(request).pool().get(body.model)
    return service.score(lm, body.prompt, body.target, raw=body.raw, system=body.system).to_dict()
