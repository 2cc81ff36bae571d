"""Errors in the OpenAI API's shape, for the ``/v1`` gateway.

OpenAI clients expect every failure as ``{"error": {"message", "type", "param", "code"}}``:

- ``400 invalid_request_error``: a malformed body (FastAPI's validation errors are converted),
  an unsupported parameter, a prompt longer than the context window
  (``code="context_length_exceeded"``);
- ``404 invalid_request_error`` with ``code="model_not_found"``: an unknown model;
- ``429 rate_limit_error``: the monitoring writer's queue is full (back-pressure), or the model's
  batching queue is (``code="server_busy"``, with ``Retry-After`` in seconds);
- ``500 server_error``: a bug — the message names the exception, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pellucid.errors import InvalidInputError, ModelNotFoundError, PellucidError, PromptTooLongError, ServerBusyError
from pellucid.monitor.errors import StoreBusyError


@dataclass(frozen=True)
class OpenAIError:
    """One error as the gateway reports it."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    #: seconds a client should wait before retrying (the ``Retry-After`` header), when known
    retry_after: int | None = None

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        if self.retry_after is not None:
            headers = {**(headers or {}), "Retry-After": str(self.retry_after)}
        return JSONResponse(status_code=self.status, content=self.body(), headers=headers)


def from_exception(exc: BaseException) -> OpenAIError:
    """The OpenAI-shaped error for an exception raised while serving a call."""
    if isinstance(exc, ModelNotFoundError):
        return OpenAIError(404, str(exc), param="model", code="model_not_found")
    if isinstance(exc, PromptTooLongError):
        return OpenAIError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, ServerBusyError):
        return OpenAIError(429, str(exc), type="rate_limit_error", code="server_busy", retry_after=exc.retry_after)
    if isinstance(exc, StoreBusyError):
        return OpenAIError(429, str(exc), type="rate_limit_error", code="monitor_queue_full")
    if isinstance(exc, InvalidInputError):
        return OpenAIError(400, str(exc))
    if isinstance(exc, PellucidError):
        return OpenAIError(400, str(exc), code=type(exc).__name__)
    return OpenAIError(
        500,
        f"Internal error in Pellucid's gateway ({type(exc).__name__}: {exc}); the call was logged with this error.",
        type="server_error",
    )


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _location(loc: tuple[Any, ...]) -> str:
    """``messages.0.role`` from pydantic's location (without ``body`` and union branch names like ``str``)."""
    parts = [
        str(p)
        for p in loc
        if p not in ("body", "header", "query") and not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS))
    ]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> OpenAIError:
    """FastAPI's request validation error as one 400 naming each bad field, its value and the rule."""
    problems: list[str] = []
    errors = list(exc.errors())
    for err in errors[:8]:
        where = _location(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', message)})")
            continue
        if err.get("type") == "missing":
            problems.append(f"{where}: required field is missing")
            continue
        shown = err.get("input")
        quoted = isinstance(shown, dict) or err.get("type") == "value_error"  # our own messages show the value
        value = "" if quoted else f" (got {shown!r:.80})"
        problem = f"{where}: {message.removeprefix('Value error, ')}{value}"
        if problem not in problems:
            problems.append(problem)
    if len(errors) > 8:
        problems.append(f"and {len(errors) - 8} more problems")
    param = _location(tuple(errors[0].get("loc", ()))) if errors and errors[0].get("type") != "json_invalid" else None
    return OpenAIError(400, "Invalid request: " + "; ".join(problems) + ".", param=param, code="invalid_request")
