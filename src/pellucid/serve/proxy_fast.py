"""Proxied ``/v1`` calls' short way through the app: from the security middleware straight to the proxy.

A proxied call is proxy mode's hot path, with a budget of a millisecond or two. FastAPI's way to
an endpoint — its exception middleware, the route table tried in order, the request and response
wrappers, the dependency solver — costs a good share of that, for routes that take no parameters
and answer their own errors: :meth:`~pellucid.serve.proxy.Proxy.forward` turns every failure into
an OpenAI error and a record itself.

:class:`ProxyFastPath` sits just inside the security middleware (the token, the body-size limit
and CORS still apply) and hands ``POST /v1/chat/completions``, ``/v1/completions`` and
``/v1/embeddings`` to the proxy directly. Everything else goes the usual way, and so does every
call on a gateway that also serves local models (``--serve-local``: the routes then pick local or
upstream by the model named). The routes stay registered, so the OpenAPI document is unchanged,
and the answers are the same objects the routes return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from pellucid.errors import PellucidError
from pellucid.serve.openai_errors import from_exception
from pellucid.serve.security import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from starlette.responses import Response

    from pellucid.serve.proxy import Proxy

#: Path -> (endpoint name in records, upstream path), as ``serve/routers/proxy.py`` routes them.
ROUTES = {
    "/v1/chat/completions": ("chat.completions", "chat/completions"),
    "/v1/completions": ("completions", "completions"),
    "/v1/embeddings": ("embeddings", "embeddings"),
}


class ProxyFastPath:
    """ASGI middleware: proxied calls to :data:`ROUTES` go to ``proxy`` without FastAPI's routing."""

    def __init__(self, app: ASGIApp, proxy: Proxy) -> None:
        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None or self.proxy.serve_local or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        try:
            response = await self.proxy.forward(request, *route)
        except PellucidError as exc:  # what the app's handler answers under /v1
            response = from_exception(exc).response()
        await response(scope, receive, send)
