"""Calls refused before they could be parsed (a malformed body) are logged too, with what they asked.

A request to a logged endpoint whose body is not valid JSON, or fails validation, never reaches
:meth:`Gateway.prepare`; the app's error handler logs it here so the record of every call is
complete: :func:`rejected_prompt` keeps the best record of the prompt (its messages, its prompt
text, else the raw body, clipped) and :func:`log_rejected` logs the call with its error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import Request

if TYPE_CHECKING:
    from pellucid.serve.gateway import Call, Gateway

#: Paths of the endpoints whose calls are logged, and their names in records.
ENDPOINTS = {"/v1/chat/completions": "chat.completions", "/v1/completions": "completions"}


def rejected_prompt(body: Any) -> str | list[dict[str, Any]]:
    """The best record of what a malformed request asked: its messages or prompt, else its raw body."""
    if isinstance(body, dict):
        messages = body.get("messages")
        if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
            return messages
        if isinstance(body.get("prompt"), str):
            return body["prompt"]
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return text[:20_000]


def log_rejected(gateway: Gateway, request: Request, body: Any, message: str, status: int) -> Call | None:
    """Log a call refused before it could be parsed (a malformed body); None for unlogged paths."""
    endpoint = ENDPOINTS.get(request.url.path)
    if endpoint is None:
        return None
    fields = body if isinstance(body, dict) else {}
    model = fields.get("model") if isinstance(fields.get("model"), str) and fields.get("model") else None
    user = fields.get("user") if isinstance(fields.get("user"), str) else None
    metadata = fields.get("metadata") if isinstance(fields.get("metadata"), dict) else None
    call = gateway.begin(request, endpoint, rejected_prompt(body), model=model, user=user, metadata=metadata)
    call.finish(error=message, status=status)
    return call
