"""Routes whose every error answers ``{"error": {"type", "message"}}`` with a 4xx status.

:class:`JSONErrorRoute` (``APIRouter(route_class=JSONErrorRoute)``) turns a malformed body into a
422 whose message names each bad field, and a :class:`~pellucid.errors.PellucidError` into the
status it asks for (a ``status_code`` attribute) or the usual one for its kind: 422 for bad input
(an unknown check or generator name included), 404 for other lookups (a model), 499 for a
cancelled computation, 400 otherwise. The router then behaves the
same mounted on the full app or on a bare one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from pellucid.errors import Cancelled, InvalidInputError, PellucidError

#: Status of a request whose client went away before the answer (nginx's convention).
CLIENT_CLOSED = 499


def status_for(exc: PellucidError) -> int:
    """The HTTP status of a Pellucid error."""
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    if isinstance(exc, InvalidInputError):  # an unknown name in the request is bad input, not a lookup
        return 422
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, Cancelled):
        return CLIENT_CLOSED
    return 400


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """``{"error": {"type": kind, "message": message}}`` with ``status``."""
    return JSONResponse(status_code=status, content={"error": {"type": kind, "message": message}})


def validation_message(exc: RequestValidationError, hint: str = "") -> str:
    """One sentence naming each bad field of a request, the value given (when it is a plain value)
    and what is wrong with it."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        value = err.get("input")
        given = f"={value!r}" if value is not None and not isinstance(value, dict | list) else ""
        parts.append(f"{where}{given}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "Invalid request: " + "; ".join(parts) + "." + (f" {hint}" if hint else "")


class JSONErrorRoute(APIRoute):
    """A route whose validation and Pellucid errors answer ``{"error": {...}}``.

    A subclass may set ``hint``, a sentence appended to validation messages (where to find the
    parameters, say).
    """

    hint = ""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error_response(422, "ValidationError", validation_message(exc, self.hint))
            except PellucidError as exc:
                return error_response(status_for(exc), type(exc).__name__, str(exc))

        return route
