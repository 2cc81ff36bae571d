"""Proxy mode: forward ``/v1`` calls to OpenAI-compatible upstreams and log each one like a local call.

One :class:`Proxy` per app holds an ``httpx.AsyncClient`` (pooled keep-alive connections, opened
at start-up, closed at shutdown). A call goes through the gateway's own steps, so its record is
the same as a locally served one (same writer, same fields: enrichment, drift, alerts and
feedback work unchanged):

1. :meth:`Gateway.begin` makes the :class:`~pellucid.serve.gateway.Call` (record id, start time,
   user, session, tags); the record's ``metadata.gateway.proxy`` names the upstream.
2. The body goes upstream as the client sent it, with only ``model`` renamed if configured and
   the upstream's API key as ``Authorization``.
3. The answer comes back as the upstream sent it: the same status code and bytes for JSON
   answers, and for streams every chunk forwarded the moment it arrives while a
   :class:`~pellucid.serve.proxy_answers.StreamReader` reads text, finish reason and usage on
   the side. Token counts come from the upstream's ``usage``; when it has none and the model
   is mapped to local weights, they are counted with that tokenizer.

Failures become OpenAI-style errors and one record each: connection refused or a network
error (502, ``upstream_unreachable``), a timeout (504, ``upstream_timeout``), an answer that is
not JSON or lacks the OpenAI fields (502, ``upstream_bad_answer``, quoting what it sent). An
upstream error status is passed back unchanged. A stream cut by the upstream ends with an SSE
``error`` event; the record keeps the text streamed until then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from pellucid.errors import InvalidInputError, ModelNotFoundError
from pellucid.monitor.errors import StoreBusyError
from pellucid.serve.gateway import Call, Gateway, rejected_prompt
from pellucid.serve.openai_errors import OpenAIError, from_exception
from pellucid.serve.proxy_answers import Answer, BadUpstreamAnswer, StreamReader, excerpt, read_answer
from pellucid.serve.upstreams import Upstream

log = logging.getLogger(__name__)

#: ``(upstream, prompt, response) -> (prompt_tokens, completion_tokens)`` or None when it cannot count.
TokenCounter = Callable[[Upstream, Any, str | None], tuple[int, int] | None]


class UpstreamFailure(Exception):
    """A proxied call failed between Pellucid and the upstream; carries the client's error."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(error.message)
        self.error = error


def _network_error(upstream: Upstream, exc: httpx.HTTPError) -> OpenAIError:
    where = f"Upstream {upstream.name!r} ({upstream.base_url})"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return OpenAIError(504, f"{where} did not answer in time ({detail}).", "server_error", code="upstream_timeout")
    if isinstance(exc, httpx.ConnectError):
        message = f"{where} could not be reached ({detail}); is it running?"
        return OpenAIError(502, message, "server_error", code="upstream_unreachable")
    return OpenAIError(502, f"{where} failed: {type(exc).__name__}: {detail}.", "server_error", code="upstream_error")


def _bad_answer(upstream: Upstream, exc: BadUpstreamAnswer) -> OpenAIError:
    message = f"Upstream {upstream.name!r} ({upstream.base_url}) sent {exc}."
    return OpenAIError(502, message, "server_error", code="upstream_bad_answer")


def logged_prompt(endpoint: str, body: dict[str, Any]) -> str | list[dict[str, Any]]:
    """What a record keeps as the prompt: the messages, the prompt text, or the embeddings input."""
    if endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n".join(value)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)[:20_000]
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    return rejected_prompt(body)


class Proxy:
    """Forwards calls to ``upstreams`` and logs them through ``gateway``.

    Args:
        gateway: makes and logs the calls (its monitor may be None: nothing logged).
        upstreams: ``{client model name: Upstream}``.
        count_tokens: counts tokens where the upstream reports no usage (None: left empty).
        timeout: seconds to wait for any read from the upstream (generation can be slow).
        connect_timeout: seconds to wait for a connection.
    """

    def __init__(
        self,
        gateway: Gateway,
        upstreams: dict[str, Upstream],
        *,
        count_tokens: TokenCounter | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.gateway = gateway
        self.upstreams = upstreams
        self.count_tokens = count_tokens
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the pooled HTTP client (the app's start-up)."""
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0)
        self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits)

    async def close(self) -> None:
        """Close the client and its connections (the app's shutdown)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("Proxy.start() was not called: the app's lifespan opens the HTTP client.")
        return self._client

    def upstream_for(self, model: Any) -> Upstream:
        """The upstream serving ``model`` (with one upstream, a call without a model goes to it)."""
        if model is None and len(self.upstreams) == 1:
            return next(iter(self.upstreams.values()))
        if isinstance(model, str) and model in self.upstreams:
            return self.upstreams[model]
        names = ", ".join(sorted(self.upstreams))
        if model is None:
            raise InvalidInputError(f"This proxy serves several models; name one in 'model': {names}.")
        raise ModelNotFoundError(f"Model {str(model)[:80]!r} is not proxied here. Models this server proxies: {names}.")

    def _check_room(self) -> None:
        """Refuse (429) before forwarding when the writer could not take the call's record."""
        monitor = self.gateway.monitor
        if monitor is not None and monitor.writer.stats().queued >= monitor.writer.max_queue:
            raise StoreBusyError(
                f"The monitoring writer's queue is full ({monitor.writer.max_queue} records waiting for the "
                "database); retry in a moment."
            )

    def headers_for(self, upstream: Upstream) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        key = upstream.api_key()
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- one call ----------------------------------------------------------------------------
    async def forward(self, request: Request, endpoint: str, path: str) -> Response:
        """Forward the JSON body of ``request`` to the upstream's ``path`` and answer as it did."""
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        prompt = logged_prompt(endpoint, body) if isinstance(body, dict) else rejected_prompt(raw)
        fields = body if isinstance(body, dict) else {}
        model = fields.get("model")
        call = self.gateway.begin(
            request,
            endpoint,
            prompt,
            model=model if isinstance(model, str) and model else None,
            user=fields.get("user") if isinstance(fields.get("user"), str) else None,
            metadata=fields.get("metadata") if isinstance(fields.get("metadata"), dict) else None,
            params={
                **{k: v for k, v in fields.items() if k not in ("messages", "prompt", "input", "model")},
                "chat": endpoint == "chat.completions",  # how enrichment and explanations render the prompt
            },
        )
        try:
            if not isinstance(body, dict):
                raise InvalidInputError(f"Invalid request: the body is not a JSON object ({excerpt(raw)}).")
            self.gateway.check_headers(request)
            self._check_room()
            upstream = self.upstream_for(body.get("model"))
        except Exception as exc:
            error = from_exception(exc)
            call.finish(error=error.message, status=error.status)
            return error.response(call.headers)
        call.fields["model"] = upstream.name
        call.gateway["proxy"] = {"upstream": upstream.name, "url": upstream.base_url, "model": upstream.model}
        if upstream.local_weights:
            call.gateway["proxy"]["local_weights"] = upstream.local_weights
        sent = {**body, "model": upstream.model}
        if body.get("stream") is True and endpoint != "embeddings":
            return await self._stream(call, upstream, path, sent)
        return await self._once(call, upstream, path, sent)

    async def _once(self, call: Call, upstream: Upstream, path: str, body: dict[str, Any]) -> Response:
        try:
            reply = await self.client.post(upstream.url(path), json=body, headers=self.headers_for(upstream))
        except httpx.HTTPError as exc:
            return self._fail(call, _network_error(upstream, exc))
        except InvalidInputError as exc:  # the API key variable is unset
            return self._fail(call, OpenAIError(500, str(exc), "server_error", code="upstream_key_missing"))
        call.first_token()
        if reply.status_code >= 400:
            return self._passed_error(call, upstream, reply.status_code, reply.content)
        try:
            answer = read_answer(call.endpoint, reply.content)
        except BadUpstreamAnswer as exc:
            return self._fail(call, _bad_answer(upstream, exc))
        await self._finish(call, upstream, answer, status=reply.status_code)
        return Response(reply.content, reply.status_code, call.headers, media_type="application/json")

    def _fail(self, call: Call, error: OpenAIError) -> Response:
        log.warning("Proxied %s call %s failed: %s", call.endpoint, call.record_id, error.message)
        call.finish(error=error.message, status=error.status)
        return error.response(call.headers)

    def _passed_error(self, call: Call, upstream: Upstream, status: int, content: bytes) -> Response:
        """An upstream error answer, passed back with its own status (wrapped if it is not JSON)."""
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        detail = data.get("error") if isinstance(data, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else None
        text = message if isinstance(message, str) else excerpt(content)
        error = f"Upstream {upstream.name!r} answered {status}: {text}"
        log.warning("Proxied %s call %s: %s", call.endpoint, call.record_id, error)
        call.finish(error=error, status=status)
        if isinstance(data, dict):
            return Response(content, status, call.headers, media_type="application/json")
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return JSONResponse(OpenAIError(status, error + ".", kind, code="upstream_error").body(), status, call.headers)

    async def _finish(self, call: Call, upstream: Upstream, answer: Answer, *, status: int = 200) -> None:
        """Log a call that got an answer, counting tokens locally when the upstream gave none."""
        if answer.model:
            call.fields["model_version"] = answer.model[:200]
        if answer.prompt_tokens is None and self.count_tokens is not None:
            try:
                counted = await anyio.to_thread.run_sync(self.count_tokens, upstream, call.prompt, answer.text)
            except Exception as exc:  # counting is a bonus: never fail the call for it
                log.warning("Tokens of proxied call %s not counted: %s", call.record_id, exc)
                counted = None
            if counted is not None:
                answer.prompt_tokens, answer.completion_tokens = counted
                call.gateway["usage"] = "counted with " + str(upstream.local_weights)
        for name in ("prompt_tokens", "completion_tokens"):
            if getattr(answer, name) is not None:
                call.fields[name] = getattr(answer, name)
        if answer.finish_reason:
            call.gateway["finish_reason"] = answer.finish_reason
        call.finish(response=answer.text, status=status)

    # -- streams -----------------------------------------------------------------------------
    async def _stream(self, call: Call, upstream: Upstream, path: str, body: dict[str, Any]) -> Response:
        try:
            request = self.client.build_request(
                "POST", upstream.url(path), json=body, headers=self.headers_for(upstream)
            )
            reply = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            return self._fail(call, _network_error(upstream, exc))
        except InvalidInputError as exc:
            return self._fail(call, OpenAIError(500, str(exc), "server_error", code="upstream_key_missing"))
        kind = reply.headers.get("content-type", "")
        if reply.status_code >= 400 or not kind.startswith("text/event-stream"):
            try:
                content = await reply.aread()
            except httpx.HTTPError as exc:
                return self._fail(call, _network_error(upstream, exc))
            finally:
                await reply.aclose()
            if reply.status_code >= 400:
                return self._passed_error(call, upstream, reply.status_code, content)
            what = f"a {kind or 'untyped'} body to a streaming request (not text/event-stream): {excerpt(content)}"
            return self._fail(call, _bad_answer(upstream, BadUpstreamAnswer(what)))
        state = {"started": False}

        def never_started() -> None:  # the client left before the first byte: still one record
            if not state["started"]:
                call.finish(error="the client disconnected before the stream started", status=499)

        events = self._relay(call, upstream, reply, state)
        headers = {**call.headers, "Cache-Control": "no-cache"}
        task = BackgroundTask(_close_then, reply, never_started)
        return StreamingResponse(events, reply.status_code, headers, media_type="text/event-stream", background=task)

    async def _relay(
        self, call: Call, upstream: Upstream, reply: httpx.Response, state: dict[str, bool]
    ) -> AsyncIterator[bytes]:
        """Every chunk as it arrives; the record is written when the stream ends, however it ends."""
        state["started"] = True
        reader = StreamReader(call.endpoint)
        error: OpenAIError | None = None

        def record_error(failure: OpenAIError) -> bytes:
            """Log the failed call, then give the SSE event that tells the client (so the record exists first)."""
            answer = reader.finish()
            call.fields.update({k: v for k, v in _tokens(answer).items() if v is not None})
            call.finish(response=answer.text, error=failure.message, status=failure.status)
            return _sse(failure)

        try:
            async for chunk in reply.aiter_raw():
                if reader.feed(chunk):
                    call.first_token()
                if reader.done and reader.error is None and not call.logged:  # queued before the client sees the end
                    await self._finish(call, upstream, reader.finish(), status=reply.status_code)
                yield chunk
            reader.finish()
            if reader.error is not None:
                error = OpenAIError(502, f"Upstream {upstream.name!r} reported an error mid-stream: {reader.error}")
            elif not reader.done:
                what = BadUpstreamAnswer("a stream that ended without 'data: [DONE]' (cut mid-answer)")
                error = _bad_answer(upstream, what)
                yield record_error(error)
        except httpx.HTTPError as exc:
            error = _network_error(upstream, exc)
            error = OpenAIError(502, error.message + " The stream was cut.", error.type, code=error.code)
            yield record_error(error)
        except BadUpstreamAnswer as exc:
            error = _bad_answer(upstream, exc)
            yield record_error(error)
        finally:
            answer = reader.finish()
            if error is not None and not call.logged:
                call.fields.update({k: v for k, v in _tokens(answer).items() if v is not None})
                call.finish(response=answer.text, error=error.message, status=error.status)
            elif error is None and not reader.done:  # the client left mid-stream
                call.finish(response=answer.text, error="stream cancelled: the client disconnected", status=499)
            with anyio.CancelScope(shield=True):
                await reply.aclose()
                if not call.logged:
                    await self._finish(call, upstream, answer, status=reply.status_code)


def _tokens(answer: Answer) -> dict[str, int | None]:
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}


def _sse(error: OpenAIError) -> bytes:
    """An OpenAI-style error event (the stream's status line is already sent)."""
    return f"data: {json.dumps(error.body(), ensure_ascii=False)}\n\n".encode()


async def _close_then(reply: httpx.Response, then: Callable[[], None]) -> None:
    await reply.aclose()
    then()


def local_token_counter(pool: Any) -> TokenCounter:
    """Counts a proxied call's tokens with its mapped local weights (None for unmapped models).

    The prompt is counted as the model reads it (chat messages through its chat template), the
    response as a continuation without special tokens. ``pool`` is the app's model pool; the
    operator configured the weights, so the request guard on model names does not apply.
    """
    from pellucid.service.records import logged_messages

    models = getattr(pool, "inner", pool)

    def count(upstream: Upstream, prompt: Any, response: str | None) -> tuple[int, int] | None:
        if not upstream.local_weights:
            return None
        lm = models.get(upstream.local_weights)
        prompt_tokens = len(lm.encode(logged_messages(prompt), chat=isinstance(prompt, list)))
        return prompt_tokens, len(lm.encode_target(response)) if response else 0

    return count
