"""OpenAI-compatible endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``.

Request and response bodies follow the OpenAI API, so its client libraries work unchanged
(``OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")``). What differs:

- one choice per call (``n`` must be 1); text content only; sampling parameters are
  ``temperature`` (0-2, default 1; 0 is greedy), ``top_p``, ``max_tokens`` /
  ``max_completion_tokens`` (default: until the end token or the context window is full),
  ``seed`` and up to 4 ``stop`` strings. Other OpenAI parameters are accepted at their neutral
  values (``presence_penalty: 0``, ``tools: []``...) and refused otherwise; unknown fields are
  ignored and listed in the record's ``metadata.gateway.ignored_params``.
- every call is logged (see :mod:`pellucid.serve.gateway`); its record id comes back in the
  ``X-Pellucid-Record-Id`` header and in ``pellucid.record_id`` of the body (of the first chunk
  when streaming), for ``POST /api/records/{id}/feedback``.
- extensions: ``"cache": true`` (or ``X-Pellucid-Cache: 1``) for the exact-match cache.

``stream: true`` answers with server-sent events: ``data: {chunk}`` lines, each a
``chat.completion.chunk`` (or ``text_completion``) object, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from pellucid import service
from pellucid.errors import PellucidError
from pellucid.serve.gateway import Call, Gateway, Job, Outcome, cached_outcome, outcome_of
from pellucid.serve.openai_errors import OpenAIError, from_exception
from pellucid.serve.routers.openai_requests import ChatCompletionRequest, CommonRequest, CompletionRequest
from pellucid.serve.routers.openai_schemas import ChatCompletion, Completion, ModelList, completion_doc
from pellucid.serve.state import app_state

router = APIRouter(tags=["openai"])
log = logging.getLogger(__name__)


# -- routes -------------------------------------------------------------------------------
@router.get("/v1/models", response_model=ModelList)
def list_models(request: Request) -> dict[str, Any]:
    """Loaded models first, then every installed or converted causal LM (loaded on first use)."""
    state = app_state(request)
    pool = state.pool()
    names = list(pool.loaded())
    for entry in service.list_models(state.config()):
        if entry.kind == "causal_lm" and entry.status != "not installed" and entry.name not in names:
            names.append(entry.name)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "pellucid"} for n in names]
    return {"object": "list", "data": data}


# Streamed (SSE) or JSON: the handlers build their responses; the JSON shape is documented.
@router.post("/v1/chat/completions", response_model=None, responses=completion_doc(ChatCompletion))
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    gateway = app_state(request).openai_gateway()
    return await _serve(gateway, request, body, ("chat.completions", body.logged()), body.for_model(), chat=True)


@router.post("/v1/completions", response_model=None, responses=completion_doc(Completion))
async def completions(body: CompletionRequest, request: Request) -> Response:
    gateway = app_state(request).openai_gateway()
    return await _serve(gateway, request, body, ("completions", body.text()), body.text(), chat=False)


async def _serve(
    gateway: Gateway, request: Request, body: CommonRequest, logged: tuple[str, Any], prompt: Any, *, chat: bool
) -> Response:
    """Answer one call. The blocking steps (logging, tokenising, queueing, decoding) run in worker
    threads, so the event loop stays free to notice a client that leaves mid-answer."""
    call = await anyio.to_thread.run_sync(lambda: body.begin(gateway, request, *logged))
    try:
        gateway.check_headers(request)
        job = await anyio.to_thread.run_sync(lambda: gateway.prepare(call, prompt, body.sampling(), chat=chat))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                _events(job, chat=chat, include_usage=include_usage),
                media_type="text/event-stream",
                headers={**call.headers, "Cache-Control": "no-cache"},
                background=BackgroundTask(_log_if_never_started, job),
            )
        outcome = await _complete_unless_left(gateway, request, job)
    except Exception as exc:
        return _fail(call, exc).response(call.headers)
    if outcome is None:  # nobody is there to read a response
        return Response(status_code=499)
    return JSONResponse(_body(job, outcome, chat=chat), headers=call.headers)


async def _complete_unless_left(gateway: Gateway, request: Request, job: Job) -> Outcome | None:
    """Decode a non-streamed answer while watching the connection: a client that leaves cancels its
    row at the next decode step (its slot goes to the next queued call) and the call is logged as
    cancelled (499) with the text decoded so far. ``None`` when the client left."""
    left = asyncio.Event()
    watcher = asyncio.ensure_future(_watch_disconnect(request, job, left))
    try:
        outcome = await anyio.to_thread.run_sync(gateway.consume, job)
    finally:
        watcher.cancel()
    if left.is_set():
        await anyio.to_thread.run_sync(_log_unfinished, job, outcome.text, None)
        return None
    await anyio.to_thread.run_sync(job.call.finish, outcome)
    return outcome


async def _watch_disconnect(request: Request, job: Job, left: asyncio.Event) -> None:
    """Cancel ``job``'s stream when the client disconnects (the request body is already read)."""
    while (await request.receive()).get("type") != "http.disconnect":
        pass
    left.set()
    if job.stream is not None:
        job.stream.cancel()


def _fail(call: Call, exc: Exception) -> OpenAIError:
    """Log a failed call (once) and return its OpenAI-shaped error."""
    if not isinstance(exc, PellucidError):
        log.exception("Unexpected error in a %s call (record %s)", call.endpoint, call.record_id)
    error = from_exception(exc)
    call.finish(error=error.message, status=error.status)
    return error


def event(data: dict[str, Any]) -> str:
    """One server-sent event carrying ``data`` as JSON."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


# -- bodies -------------------------------------------------------------------------------
def _usage(outcome: Outcome) -> dict[str, int]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


def _pellucid(job: Job) -> dict[str, Any]:
    return {"record_id": job.call.record_id if job.call.monitor else None, "cache_hit": job.cached is not None}


def _envelope(job: Job, *, chat: bool, chunk: bool = False) -> dict[str, Any]:
    prefix, kind = ("chatcmpl-", "chat.completion") if chat else ("cmpl-", "text_completion")
    return {
        "id": prefix + job.call.record_id.replace("-", ""),
        "object": kind + ".chunk" if chat and chunk else kind,
        "created": job.call.created,
        "model": job.model,
        "system_fingerprint": job.lm.version,
    }


def _body(job: Job, outcome: Outcome, *, chat: bool) -> dict[str, Any]:
    if chat:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": outcome.text},
            "logprobs": None,
            "finish_reason": outcome.finish_reason,
        }
    else:
        choice = {"index": 0, "text": outcome.text, "logprobs": None, "finish_reason": outcome.finish_reason}
    return {**_envelope(job, chat=chat), "choices": [choice], "usage": _usage(outcome), "pellucid": _pellucid(job)}


def _chunk(job: Job, *, chat: bool, text: str | None = None, role: bool = False, finish: str | None = None) -> str:
    if chat:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
        if text is not None:
            delta["content"] = text
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
    data = {**_envelope(job, chat=chat, chunk=True), "choices": [choice]}
    if role:
        data["pellucid"] = _pellucid(job)
    return event(data)


def _log_if_never_started(job: Job) -> None:
    """Runs after a streamed response: logs the call if the client left before the stream began."""
    if not job.started:
        if job.stream is not None:
            job.stream.cancel()  # a batched stream was queued when the call was prepared: free its slot
        job.call.finish(error="the client disconnected before the stream started", status=499)


def _log_unfinished(job: Job, text: str, error: OpenAIError | None) -> None:
    """Log a stream that did not end well with the text sent so far: cut by ``error``, or left by the client."""
    partial = Outcome(
        text,
        "cancelled" if error is None else "error",
        job.stream.prompt_tokens if job.stream is not None else 0,
        len(job.stream.token_ids) if job.stream is not None else 0,
    )
    if error is None:
        job.call.finish(partial, error="stream cancelled: the client disconnected", status=499)
    else:
        job.call.finish(partial, error=error.message, status=error.status)


async def _events(job: Job, *, chat: bool, include_usage: bool) -> AsyncIterator[str]:
    """The answer as server-sent events; the call is logged when the stream ends, however it ends."""
    job.started = True
    call, sent = job.call, []
    outcome: Outcome | None = None
    error: OpenAIError | None = None
    try:
        yield _chunk(job, chat=chat, role=True)
        if job.cached is not None:
            call.first_token()
            cached = cached_outcome(job.cached)
            sent.append(cached.text)
            yield _chunk(job, chat=chat, text=cached.text)
            outcome = cached
        else:
            assert job.stream is not None
            pieces = iter(job.stream)
            while (piece := await anyio.to_thread.run_sync(next, pieces, None)) is not None:
                call.first_token(job.stream.first_token_at)
                sent.append(piece)
                yield _chunk(job, chat=chat, text=piece)
            if job.stream.first_token_at is not None:
                call.first_token(job.stream.first_token_at)
            outcome = outcome_of(job.stream, "".join(sent))
        yield _chunk(job, chat=chat, finish=outcome.finish_reason)
        if include_usage:
            yield event({**_envelope(job, chat=chat, chunk=True), "choices": [], "usage": _usage(outcome)})
        if call.durable:  # the record is on disk before the client sees the answer end
            await anyio.to_thread.run_sync(call.finish, outcome)
        yield "data: [DONE]\n\n"
    except Exception as exc:  # the status line is sent already: report the error in the stream
        if not isinstance(exc, PellucidError):
            log.exception("Unexpected error while streaming a %s call (record %s)", call.endpoint, call.record_id)
        error = from_exception(exc)
        yield event(error.body())
    finally:
        if job.stream is not None:
            job.stream.cancel()  # stops a generation nobody reads any more; no-op when it ended
        if outcome is not None and error is None:
            call.finish(outcome)
        else:
            _log_unfinished(job, "".join(sent), error)
