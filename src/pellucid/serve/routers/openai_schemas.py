"""What the OpenAI-compatible gateway answers, as pydantic models (OpenAI's shapes).

:mod:`pellucid.serve.routers.openai` builds its answers itself (JSON, or server-sent events when
streaming), so these models document the JSON shape in the OpenAPI document rather than
validate it; ``GET /v1/models`` declares :class:`ModelList` as its response model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class PellucidInfo(BaseModel):
    """Pellucid's extension: the logged record's id (for feedback) and whether the cache answered."""

    record_id: str | None
    cache_hit: bool


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: str | None


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None
    finish_reason: str | None


class _Envelope(BaseModel):
    id: str
    object: str
    created: int
    model: str
    system_fingerprint: str | None


class ChatCompletion(_Envelope):
    """A chat completion (``stream: false``); streamed, the same arrives as chunks."""

    choices: list[ChatChoice]
    usage: Usage
    pellucid: PellucidInfo


class Completion(_Envelope):
    """A text completion (``stream: false``)."""

    choices: list[CompletionChoice]
    usage: Usage
    pellucid: PellucidInfo


def completion_doc(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a completion answer: JSON, or server-sent events when streaming."""
    events = "With stream: true, server-sent events: `data: {chunk}` lines, then `data: [DONE]`."
    return {200: {"model": model, "description": events, "content": {"text/event-stream": {}}}}
