"""The errors a proxied call can end with, as the client sees them and as its record keeps them.

A network failure becomes a 502 (``upstream_unreachable``, ``upstream_error``) or a 504
(``upstream_timeout``); an answer that is not what an OpenAI-compatible server sends becomes a
502 ``upstream_bad_answer`` quoting it. Once a stream has started its status line is sent, so a
failure mid-stream is logged first (with the text and token counts that arrived) and then told to
the client as one SSE ``error`` event.
"""

from __future__ import annotations

import json

import httpx

from pellucid.serve.gateway import Call
from pellucid.serve.openai_errors import OpenAIError
from pellucid.serve.proxy_answers import Answer, BadUpstreamAnswer, StreamReader
from pellucid.serve.upstreams import Upstream


def network_error(upstream: Upstream, exc: httpx.HTTPError) -> OpenAIError:
    """The client's error for a connection, timeout or transport failure, naming the upstream."""
    where = f"Upstream {upstream.name!r} ({upstream.base_url})"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return OpenAIError(504, f"{where} did not answer in time ({detail}).", "server_error", code="upstream_timeout")
    if isinstance(exc, httpx.ConnectError):
        message = f"{where} could not be reached ({detail}); is it running?"
        return OpenAIError(502, message, "server_error", code="upstream_unreachable")
    return OpenAIError(502, f"{where} failed: {type(exc).__name__}: {detail}.", "server_error", code="upstream_error")


def bad_answer(upstream: Upstream, exc: BadUpstreamAnswer) -> OpenAIError:
    """The client's error for an answer an OpenAI client could not read, quoting what was sent."""
    message = f"Upstream {upstream.name!r} ({upstream.base_url}) sent {exc}."
    return OpenAIError(502, message, "server_error", code="upstream_bad_answer")


def log_failure(call: Call, answer: Answer, failure: OpenAIError) -> None:
    """Log the failed call with the text and the token counts that arrived before it failed."""
    tokens = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}
    call.fields.update({k: v for k, v in tokens.items() if v is not None})
    call.finish(response=answer.text, error=failure.message, status=failure.status)


def failed_event(call: Call, reader: StreamReader, failure: OpenAIError) -> bytes:
    """Log the failed call, then give the SSE event that tells the client (so the record exists first)."""
    log_failure(call, reader.finish(), failure)
    return sse(failure)


def sse(error: OpenAIError) -> bytes:
    """An OpenAI-style error event (the stream's status line is already sent)."""
    return f"data: {json.dumps(error.body(), ensure_ascii=False)}\n\n".encode()
