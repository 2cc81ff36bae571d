"""What stands between the network and the app: token check, body-size limit, CORS, model names.

:func:`install` adds everything to an app in one call (``create_app`` does it); :func:`wrap` puts the
same layers around a plain ASGI app (proxy mode's short way for proxied calls):

- **Token** (:class:`TokenMiddleware`): with ``settings.api_token`` set, every ``/api`` and ``/v1``
  request must carry ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``, compared in
  constant time (:func:`hmac.compare_digest`). Otherwise: 401 with a JSON error (the OpenAI shape
  under ``/v1``). ``/api/health`` (for probes) and the static workbench (``/``, ``/assets/*``,
  ``/health``) stay open. Refused calls are not logged as records.
- **Body size** (:class:`BodyLimitMiddleware`): a request body larger than
  ``settings.max_body_bytes`` is refused with 413 before the app sees it — by its
  ``Content-Length`` when it has one, else by counting the bytes as they arrive (at most the
  limit is ever held in memory). The same middleware adds ``Retry-After`` to every 429 that lacks
  it, so clients of a busy writer know when to come back, and turns a failure to encode text
  sent by the client (lone surrogates quoted back in a validation error) into a 4xx.
- **CORS**: off unless ``settings.cors_origins`` lists origins.
- **Model names** (:class:`ServedModels`): a request may only name a model this server serves —
  already loaded, the configured default, a bundled name — or one inside a folder listed in
  ``settings.allow_model_paths``. Anything else (``/etc/passwd``, ``../x``, a hub id) is a 404
  that loads nothing.

:func:`ensure_token` is what ``pellucid serve`` calls before binding: loopback needs no token;
any other address gets one (generated with :func:`secrets.token_urlsafe` when not configured).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import ModelNotFoundError
from pellucid.service import ModelPool
from pellucid.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pellucid.models import LM

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths under the protected prefixes that stay open (health probes).
OPEN_PATHS = frozenset({"/api/health"})
PROTECTED_PREFIXES = ("/api", "/v1")
RETRY_AFTER_SECONDS = 1


# -- helpers -------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_token(settings: Settings) -> tuple[Settings, str | None]:
    """Settings safe to bind with, and the token generated for them (``None`` if none was made).

    Binding a non-loopback address without ``api_token`` generates one; the caller prints it once.
    """
    if settings.api_token or is_loopback(settings.host):
        return settings, None
    token = secrets.token_urlsafe(32)
    return settings.with_overrides(api_token=token), token


def is_protected(path: str) -> bool:
    """Whether ``path`` needs the token: everything under ``/api`` and ``/v1`` except health."""
    lowered = path.lower()
    return lowered not in OPEN_PATHS and lowered.startswith(PROTECTED_PREFIXES)


def error_body(path: str, status: int, message: str, *, kind: str, code: str) -> dict[str, Any]:
    """A JSON error: OpenAI's shape under ``/v1``, Pellucid's ``{"error": {type, message}}`` elsewhere."""
    if path.startswith("/v1"):
        err_type = "invalid_request_error" if status < 500 else "server_error"
        return {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    return {"error": {"type": kind, "message": message}}


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON response from middleware."""
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def presented_token(scope: Scope) -> bytes | None:
    """The token a request carries: ``Authorization: Bearer <t>`` or ``X-API-Key: <t>``."""
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(b" ")
        if scheme.lower() == b"bearer" and value.strip():
            return value.strip()
    key = _header(scope, b"x-api-key")
    return key.strip() if key else None


# -- middleware ----------------------------------------------------------------------------
class TokenMiddleware:
    """Refuse ``/api`` and ``/v1`` requests without the right token (401, JSON body)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("TokenMiddleware needs a non-empty token")
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = presented_token(scope)
        if given is not None and hmac.compare_digest(given, self.token):
            await self.app(scope, receive, send)
            return
        reason = "no API token was sent" if given is None else "the API token is not valid"
        message = (
            f"Unauthorized: {reason}. Send 'Authorization: Bearer <token>' or 'X-API-Key: <token>' "
            "(the token is PELLUCID_API_TOKEN, or the one `pellucid serve` printed at start)."
        )
        body = error_body(scope["path"], 401, message, kind="Unauthorized", code="invalid_api_key")
        await send_json(send, 401, body, {"WWW-Authenticate": "Bearer"})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes``; ``Retry-After`` on every 429 that lacks it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        try:
            if declared is not None and int(declared) > self.max_bytes:
                raise _TooLarge
            replay = await self._read_body(receive)
        except _TooLarge:
            await self._refuse(scope, send)
            return
        except ValueError:  # a Content-Length that is not a number
            text = "Content-Length is not a number."
            body = error_body(scope["path"], 400, text, kind="BadRequest", code="invalid_content_length")
            await send_json(send, 400, body)
            return
        started = False

        async def tracking_send(message: Message) -> None:  # one wrapper: every chunk of a stream goes through it
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = _with_retry_after(message)
            await send(message)

        try:
            await self.app(scope, replay, tracking_send)
        except UnicodeEncodeError:
            # Text from the request with lone surrogates ("\ud800" in JSON) cannot be encoded when
            # an error message quotes it back: the request is at fault, answer 422, not 500.
            if started:
                raise
            message = "The request contains text that is not valid Unicode (a lone UTF-16 surrogate); send UTF-8 text."
            body = error_body(scope["path"], 422, message, kind="InvalidInputError", code="invalid_unicode")
            await send_json(send, 400 if scope["path"].startswith("/v1") else 422, body)

    async def _read_body(self, receive: Receive) -> Receive:
        """Read the whole body (refusing it past the limit) and return a ``receive`` that replays it."""
        chunks: list[bytes] = []
        size = 0
        left: Message | None = None  # an http.disconnect that came before the body's end
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                left = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if left is not None:
                    return left
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return replay

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = (
            f"Request body too large: the limit is {self.max_bytes} bytes (PELLUCID_MAX_BODY_BYTES); "
            "send a shorter prompt."
        )
        body = error_body(scope["path"], 413, message, kind="PayloadTooLarge", code="request_too_large")
        await send_json(send, 413, body, {"Connection": "close"})


def _with_retry_after(start: Message) -> Message:
    """The ``http.response.start`` message, with ``Retry-After`` added if it is a 429 without one."""
    if start.get("status") == 429:
        headers = list(start.get("headers", []))
        if not any(k.lower() == b"retry-after" for k, _ in headers):
            headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            return {**start, "headers": headers}
    return start


# -- model names ---------------------------------------------------------------------------
class ServedModels(ModelPool):
    """A :class:`ModelPool` as seen by requests: only models this server serves can be named.

    Wraps (and shares the models of) the pool given to ``create_app``. Allowed names: ``None``
    (the default model), the configured default, already-loaded models, bundled models, and
    paths inside ``settings.allow_model_paths``. Everything else raises
    :class:`~pellucid.errors.ModelNotFoundError` before anything is read from disk.
    """

    def __init__(self, pool: ModelPool, settings: Settings) -> None:  # noqa: D107  (no super: shares pool's state)
        self.inner = pool
        self.settings = settings

    def get(self, name: str | None = None) -> LM:
        self.check(name)
        return self.inner.get(name)

    def add(self, lm: LM, name: str | None = None) -> None:
        self.inner.add(lm, name)

    def loaded(self) -> list[str]:
        return self.inner.loaded()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def check(self, name: str | None) -> None:
        """Raise :class:`ModelNotFoundError` unless a request may name ``name``."""
        from pellucid.service.pool import bundled_models

        if name is None or name == self.settings.default_model or name in self.inner.loaded():
            return
        if name in bundled_models():
            return
        if self._allowed_path(name):
            return
        served = sorted({self.settings.default_model, *self.inner.loaded()})
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise ModelNotFoundError(
            f"Model {shown!r} is not served here. Models this server serves: {', '.join(served)}. "
            f"Bundled models: {', '.join(bundled_models())}. Requests cannot name files, folders or "
            "hub ids unless the operator allows a folder with PELLUCID_ALLOW_MODEL_PATHS."
        )

    def _allowed_path(self, name: str) -> bool:
        if not self.settings.allow_model_paths or "\x00" in name:
            return False
        try:
            target = Path(os.path.realpath(Path(name).expanduser()))
        except (OSError, ValueError):
            return False
        for folder in self.settings.allow_model_paths:
            root = Path(os.path.realpath(folder))
            if target != root and target.is_relative_to(root):
                return True
        return False


def served_models(pool: ModelPool, settings: Settings) -> ModelPool:
    """``pool`` behind the request guard (idempotent)."""
    return pool if isinstance(pool, ServedModels) else ServedModels(pool, settings)


# -- installation --------------------------------------------------------------------------
def layers(settings: Settings) -> list[tuple[Any, dict[str, Any]]]:
    """The middleware ``settings`` ask for, innermost first, as ``(class, keyword arguments)``.

    Body limit, then the token check (if a token is set), then CORS (if origins are listed,
    outermost, so it answers preflights itself).
    """
    chosen: list[tuple[Any, dict[str, Any]]] = [(BodyLimitMiddleware, {"max_bytes": settings.max_body_bytes})]
    if settings.api_token:
        chosen.append((TokenMiddleware, {"token": settings.api_token}))
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        cors = {
            "allow_origins": list(settings.cors_origins),
            "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
            "allow_headers": [
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "X-Pellucid-User",
                "X-Pellucid-Session",
                "X-Pellucid-Tags",
                "X-Pellucid-Cache",
            ],
            "expose_headers": ["X-Pellucid-Record-Id", "Retry-After"],
        }
        chosen.append((CORSMiddleware, cors))
    return chosen


def install(app: FastAPI, settings: Settings) -> None:
    """Add the body limit, the token check (if a token is set) and CORS (if origins are listed) to ``app``."""
    for middleware, options in layers(settings):
        app.add_middleware(middleware, **options)  # each one added goes outside those before it


def wrap(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` behind the same middleware :func:`install` adds (for an ASGI app outside FastAPI's stack)."""
    for middleware, options in layers(settings):
        app = middleware(app, **options)
    return app


# -- text fields ---------------------------------------------------------------------------
def reject_surrogates(value: str) -> str:
    """Refuse text with lone UTF-16 surrogates (JSON ``"\\ud800"``): tokenizers cannot encode it.

    Used as a pydantic validator on prompt fields, so such a request is a 4xx naming the
    problem instead of a crash deep in the tokenizer.
    """
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        index = next(i for i, ch in enumerate(value) if "\ud800" <= ch <= "\udfff")
        raise ValueError(
            f"text contains a lone UTF-16 surrogate (\\u{ord(value[index]):04x} at position {index}), "
            "which is not valid Unicode; send UTF-8 text"
        )
    return value


def _text_type() -> Any:
    from typing import Annotated

    from pydantic import AfterValidator

    return Annotated[str, AfterValidator(reject_surrogates)]


#: ``str`` that refuses lone surrogates (see :func:`reject_surrogates`).
Text = _text_type()


#: Temperatures above 0 but below this divide logits into infinities (NaN probabilities): such a
#: temperature is greedy decoding in all but name, and is treated as 0.
MIN_TEMPERATURE = 1e-4


def greedy_if_tiny(value: float) -> float:
    """``0.0`` for temperatures in ``(0, MIN_TEMPERATURE)``, else ``value`` (a pydantic validator)."""
    return 0.0 if 0 < value < MIN_TEMPERATURE else value
