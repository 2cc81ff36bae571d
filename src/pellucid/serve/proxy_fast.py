"""Proxied ``/v1`` calls' short way through the app: the security middleware, then the proxy, nothing else.

A proxied call is proxy mode's hot path, with a budget of a millisecond or two. FastAPI's way to
an endpoint costs a good share of that, for routes that take no parameters and answer their own
errors (:meth:`~pellucid.serve.proxy.Proxy.forward` turns every failure into an OpenAI error and
a record itself):

- around every request, FastAPI's own middleware (its telemetry check, the server-error and
  exception layers, its body limit), and the server-error layer wraps ``send``, so every chunk
  of a stream goes through one more coroutine;
- then the route table tried in order, the request and response wrappers, the dependency solver.

:class:`GatewayAPI` is the app ``create_app`` builds: a FastAPI app that hands ``POST
/v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings`` to :attr:`GatewayAPI.proxy_path`
(when set) before any of that: :class:`ProxyEndpoint` behind the same token check, body-size
limit and CORS as every other route (:func:`pellucid.serve.security.wrap`). Everything else goes
the usual way, and so does every call on a gateway that also serves local models
(``--serve-local``: the routes then pick local or upstream by the model named), or one mounted
under a root path. The routes stay registered, so the OpenAPI document is unchanged, and the
answers are the same objects the routes return.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.requests import Request

from pellucid.errors import PellucidError
from pellucid.serve.openai_errors import OpenAIError, from_exception
from pellucid.serve.security import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from starlette.responses import Response

    from pellucid.serve.proxy import Proxy

log = logging.getLogger(__name__)

#: Path -> (endpoint name in records, upstream path), as ``serve/routers/proxy.py`` routes them.
ROUTES = {
    "/v1/chat/completions": ("chat.completions", "chat/completions"),
    "/v1/completions": ("completions", "completions"),
    "/v1/embeddings": ("embeddings", "embeddings"),
}


class ProxyEndpoint:
    """ASGI app: the proxied call of a :data:`ROUTES` path, answered by ``proxy``."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: Response
        try:
            response = await self.proxy.forward(request, *ROUTES[scope["path"]])
        except PellucidError as exc:  # what the app's handler answers under /v1
            response = from_exception(exc).response()
        except Exception as exc:  # forward answers its own failures: this is a fault of the proxy itself
            log.exception("Proxied call to %s failed", scope["path"])
            message = f"Internal error in Pellucid's proxy ({type(exc).__name__}: {exc}); see the server's log."
            response = OpenAIError(500, message, type="server_error").response()
        await response(scope, receive, send)


class GatewayAPI(FastAPI):
    """The gateway's app: FastAPI, with proxied calls answered by :attr:`proxy_path` when it is set."""

    #: The security middleware around a :class:`ProxyEndpoint` (None: every call goes through FastAPI).
    proxy_path: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self.proxy_path
        if (
            path is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in ROUTES
            and not self.root_path
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await path(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
