"""Serving figures per model: ``GET /api/serving`` (queue length, running batch, time to first token, tokens/s).

Each locally served model has one continuous-batching engine (:mod:`pellucid.models.batching`), started
by its first ``/v1`` call; this route reports every engine started so far. With batching off
(``--batching off``) requests generate in their own threads and the list is empty.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pellucid.serve.state import AppStateDep

router = APIRouter(tags=["serving"])


class ModelServing(BaseModel):
    """One model's engine, now (times in milliseconds; ``None``: no request measured yet)."""

    model: str
    max_batch: int = Field(description="Most requests decoded together.")
    max_queue: int = Field(description="Most requests waiting for a slot; one more is answered 429.")
    queued: int = Field(description="Requests waiting for a slot.")
    running: int = Field(description="Requests in the running decode batch.")
    served: int = Field(description="Requests that finished (end token, stop or max_tokens).")
    cancelled: int = Field(description="Requests whose client left before the end.")
    rejected: int = Field(description="Requests refused because the queue was full.")
    generated_tokens: int
    tokens_per_s: float = Field(description="Tokens generated per second over the last 10 s.")
    ttft_p50_ms: float | None = Field(description="Median time from queueing to first token (last 512 requests).")
    ttft_p95_ms: float | None


class Serving(BaseModel):
    batching: bool = Field(description="Whether local models are served by continuous batching.")
    models: list[ModelServing]


@router.get("/serving", response_model=Serving)
def serving(state: AppStateDep) -> Serving:
    """Per-model serving metrics of the continuous-batching engines."""
    pool = state.pool()
    figures = [ModelServing(**m.to_dict()) for m in pool.engine_metrics()]
    return Serving(batching=state.config().batching, models=figures)
