"""Proxy-mode ``/v1`` endpoints: the same paths as :mod:`pellucid.serve.routers.openai`, forwarded upstream.

Registered instead of the local OpenAI router when ``pellucid serve --upstream NAME=URL`` is
given. Bodies are not validated here: the upstream judges them, and its answer (or error)
comes back unchanged. Forwarding and logging live in :mod:`pellucid.serve.proxy`.

One gateway can mix both kinds of model (``--serve-local``): each call is routed by the model
it names — proxied names go upstream, every other name (or none) is validated and answered by
the local handlers of :mod:`~pellucid.serve.routers.openai`, exactly as on a server without
upstreams, and ``/v1/models`` lists both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from pellucid.serve.proxy import Proxy
from pellucid.serve.proxy_models import list_models
from pellucid.serve.routers import openai
from pellucid.serve.state import ServerLacksError, app_state

router = APIRouter(tags=["openai"])


def _proxy(request: Request) -> Proxy:
    proxy = app_state(request).proxy
    if proxy is None:
        raise ServerLacksError("This server proxies no upstream; start it with `pellucid serve --upstream NAME=URL`.")
    return proxy


def _named_model(raw: bytes) -> Any:
    """The ``model`` field of a JSON body (None when absent or unreadable: the handlers report those)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body.get("model") if isinstance(body, dict) else None


async def _local(
    request: Request, raw: bytes, schema: type[BaseModel], handler: Callable[..., Awaitable[Response]]
) -> Response:
    """Validate ``raw`` as the local endpoint would and run its handler (which does its blocking work
    in worker threads).

    A validation failure raises FastAPI's own ``RequestValidationError``, so the client gets the
    same OpenAI-style 400 (and the call the same record) as from the local router.
    """
    try:
        body = schema.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors()]
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        raise RequestValidationError(errors, body=parsed) from None
    return await handler(body, request)


async def _route(request: Request, endpoint: str, path: str, local: tuple[type[BaseModel], Any] | None) -> Response:
    proxy = _proxy(request)
    raw = await request.body()
    if local is not None and not proxy.serves(_named_model(raw)):
        return await _local(request, raw, *local)
    return await proxy.forward(request, endpoint, path)


@router.post("/v1/chat/completions", summary="Chat completion, forwarded to the model's upstream")
async def chat_completions(request: Request) -> Response:
    local = (openai.ChatCompletionRequest, openai.chat_completions)
    return await _route(request, "chat.completions", "chat/completions", local)


@router.post("/v1/completions", summary="Text completion, forwarded to the model's upstream")
async def completions(request: Request) -> Response:
    return await _route(request, "completions", "completions", (openai.CompletionRequest, openai.completions))


@router.post("/v1/embeddings", summary="Embeddings, forwarded to the model's upstream")
async def embeddings(request: Request) -> Response:
    return await _route(request, "embeddings", "embeddings", None)


@router.get("/v1/models", summary="The proxied models (and the local ones with --serve-local)")
async def models(request: Request) -> dict[str, Any]:
    proxy = _proxy(request)
    local = (await anyio.to_thread.run_sync(openai.list_models, request))["data"] if proxy.serve_local else []
    return await list_models(proxy, local)
