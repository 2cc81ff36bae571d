"""Proxy-mode ``/v1`` endpoints: the same paths as :mod:`pellucid.serve.routers.openai`, forwarded upstream.

Registered instead of the local OpenAI router when ``pellucid serve --upstream NAME=URL`` is
given. Bodies are not validated here: the upstream judges them, and its answer (or error)
comes back unchanged. Forwarding and logging live in :mod:`pellucid.serve.proxy`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from pellucid.serve.proxy import Proxy
from pellucid.serve.proxy_listing import list_models
from pellucid.serve.state import ServerLacksError, app_state

router = APIRouter(tags=["openai"])


def _proxy(request: Request) -> Proxy:
    proxy = app_state(request).proxy
    if proxy is None:
        raise ServerLacksError("This server proxies no upstream; start it with `pellucid serve --upstream NAME=URL`.")
    return proxy


@router.post("/v1/chat/completions", summary="Chat completion, forwarded to the model's upstream")
async def chat_completions(request: Request) -> Response:
    return await _proxy(request).forward(request, "chat.completions", "chat/completions")


@router.post("/v1/completions", summary="Text completion, forwarded to the model's upstream")
async def completions(request: Request) -> Response:
    return await _proxy(request).forward(request, "completions", "completions")


@router.post("/v1/embeddings", summary="Embeddings, forwarded to the model's upstream")
async def embeddings(request: Request) -> Response:
    return await _proxy(request).forward(request, "embeddings", "embeddings")


@router.get("/v1/models", summary="The proxied models")
async def models(request: Request) -> dict[str, Any]:
    return await list_models(_proxy(request))
