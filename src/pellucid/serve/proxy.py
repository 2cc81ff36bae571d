"""Proxy mode: forward ``/v1`` calls to OpenAI-compatible upstreams and log each one like a local call.

One :class:`Proxy` per app holds httpx connection pools (keep-alive connections, opened at
start-up, closed at shutdown; see :mod:`pellucid.serve.proxy_pools`). A call goes through the
gateway's own steps, so its record is the same as a locally served one (same writer, same
fields: enrichment, drift, alerts and feedback work unchanged):

1. :meth:`Gateway.begin` makes the :class:`~pellucid.serve.gateway.Call` (record id, start time,
   user, session, tags); the record's ``metadata.gateway.proxy`` names the upstream.
2. The body goes upstream as the client sent it — the very bytes, unless ``model`` must be
   renamed (or added) for the upstream — with the upstream's API key as ``Authorization``.
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

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Any

import anyio
import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from pellucid.errors import InvalidInputError, ModelNotFoundError
from pellucid.monitor.errors import StoreBusyError
from pellucid.serve.gateway import Call, Gateway
from pellucid.serve.openai_errors import OpenAIError, from_exception
from pellucid.serve.proxy_answers import Answer, BadUpstreamAnswer, StreamReader, excerpt, read_answer, until
from pellucid.serve.proxy_errors import bad_answer, failed_event, log_failure, network_error
from pellucid.serve.proxy_pools import UpstreamPools, headers_for
from pellucid.serve.proxy_stream import RelayedStream
from pellucid.serve.rejected_calls import rejected_prompt
from pellucid.serve.upstreams import Upstream, UpstreamTimeouts

log = logging.getLogger(__name__)

#: ``(upstream, prompt, response) -> (prompt_tokens, completion_tokens)`` or None when it cannot count.
#: Asked only about upstreams mapped to local weights (the only ones it can count for).
TokenCounter = Callable[[Upstream, Any, str | None], tuple[int, int] | None]


class UpstreamFailure(Exception):
    """A proxied call failed between Pellucid and the upstream; carries the client's error."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(error.message)
        self.error = error


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
        timeouts: how long to wait for a connection, each read, and a whole call.
        serve_local: answer calls naming a model that is not proxied with the local gateway
            (see :meth:`serves`).
    """

    def __init__(
        self,
        gateway: Gateway,
        upstreams: dict[str, Upstream],
        *,
        count_tokens: TokenCounter | None = None,
        timeouts: UpstreamTimeouts | None = None,
        serve_local: bool = False,
    ) -> None:
        self.gateway = gateway
        self.upstreams = upstreams
        self.count_tokens = count_tokens
        timeouts = timeouts or UpstreamTimeouts()
        self.timeout = httpx.Timeout(timeouts.read, connect=timeouts.connect)
        self.total = timeouts.total
        self.serve_local = serve_local
        self.pools = UpstreamPools()

    async def start(self) -> None:
        """Open the connection pools (the app's start-up)."""
        self.pools.start(self.timeout)

    async def close(self) -> None:
        """Close the pools and their connections (the app's shutdown)."""
        await self.pools.close()

    @property
    def client(self) -> httpx.AsyncClient:
        """A pooled client, in turn (for occasional calls such as ``/models``)."""
        return self.pools.client

    def headers_for(self, upstream: Upstream) -> dict[str, str]:
        return headers_for(upstream)

    def serves(self, model: Any) -> bool:
        """Whether a call naming ``model`` goes upstream (else the local gateway answers it).

        Without ``serve_local`` every call goes upstream (an unknown name is a 404 listing the
        proxied ones). With it, proxied names go upstream and every other name, or none, is
        answered locally like on a server without upstreams.
        """
        return not self.serve_local or (isinstance(model, str) and model in self.upstreams)

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
        sent = raw if body.get("model") == upstream.model else _renamed(body, upstream.model)
        if body.get("stream") is True and endpoint != "embeddings":
            return await self._stream(call, upstream, path, sent)
        return await self._once(call, upstream, path, sent)

    async def _once(self, call: Call, upstream: Upstream, path: str, body: bytes) -> Response:
        try:
            async with asyncio.timeout(self.total):  # lighter than an anyio cancel scope; the server runs asyncio
                reply = await self.pools.send(upstream, path, body, self.timeout)
                try:
                    await reply.aread()
                finally:
                    await reply.aclose()
        except TimeoutError:
            return self._fail(call, self._total_error(upstream))
        except httpx.HTTPError as exc:
            return self._fail(call, network_error(upstream, exc))
        except InvalidInputError as exc:  # the API key variable is unset
            return self._fail(call, OpenAIError(500, str(exc), "server_error", code="upstream_key_missing"))
        call.first_token()
        if reply.status_code >= 400:
            return self._passed_error(call, upstream, reply.status_code, reply.content)
        try:
            answer = read_answer(call.endpoint, reply.content)
        except BadUpstreamAnswer as exc:
            return self._fail(call, bad_answer(upstream, exc))
        await self._finish(call, upstream, answer, status=reply.status_code)
        return Response(reply.content, reply.status_code, call.headers, media_type="application/json")

    def _total_error(self, upstream: Upstream) -> OpenAIError:
        """The 504 of a call that outlasted the total timeout."""
        message = (
            f"Upstream {upstream.name!r} ({upstream.base_url}) did not finish within the total timeout of "
            f"{self.total:g} s (raise it with PELLUCID_UPSTREAM_TOTAL_TIMEOUT or --upstream-total-timeout)."
        )
        return OpenAIError(504, message, "server_error", code="upstream_timeout")

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
        if answer.prompt_tokens is None and self.count_tokens is not None and upstream.local_weights:
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
        if call.durable:  # the journal's sync runs off the event loop
            await anyio.to_thread.run_sync(partial(call.finish, response=answer.text, status=status))
        else:
            call.finish(response=answer.text, status=status)

    # -- streams -----------------------------------------------------------------------------
    async def _stream(self, call: Call, upstream: Upstream, path: str, body: bytes) -> Response:
        deadline = time.monotonic() + self.total
        try:
            async with asyncio.timeout(self.total):  # lighter than an anyio cancel scope; the server runs asyncio
                reply = await self.pools.send(upstream, path, body, self.timeout)
        except TimeoutError:
            return self._fail(call, self._total_error(upstream))
        except httpx.HTTPError as exc:
            return self._fail(call, network_error(upstream, exc))
        except InvalidInputError as exc:
            return self._fail(call, OpenAIError(500, str(exc), "server_error", code="upstream_key_missing"))
        kind = reply.headers.get("content-type", "")
        if reply.status_code >= 400 or not kind.startswith("text/event-stream"):
            try:
                content = await reply.aread()
            except httpx.HTTPError as exc:
                return self._fail(call, network_error(upstream, exc))
            finally:
                await reply.aclose()
            if reply.status_code >= 400:
                return self._passed_error(call, upstream, reply.status_code, content)
            what = f"a {kind or 'untyped'} body to a streaming request (not text/event-stream): {excerpt(content)}"
            return self._fail(call, bad_answer(upstream, BadUpstreamAnswer(what)))
        state = {"started": False, "complete": False}

        def never_started() -> None:  # the client left before the first byte: still one record
            if not state["started"]:
                call.finish(error="the client disconnected before the stream started", status=499)

        events = self._relay(call, upstream, reply, state, deadline)
        headers = {**call.headers, "Cache-Control": "no-cache"}
        after = partial(_close_then, reply, never_started)
        return RelayedStream(events, reply.status_code, headers, after=after, complete=lambda: state["complete"])

    async def _relay(
        self, call: Call, upstream: Upstream, reply: httpx.Response, state: dict[str, bool], deadline: float
    ) -> AsyncGenerator[bytes, None]:
        """Every chunk as it arrives; the record is written when the stream ends, however it ends.

        Each read waits at most until ``deadline`` (the total timeout); the deadline is checked
        around each read, never across a ``yield``, so no cancel scope spans the consumer's code.
        The chunk that completes the answer (``data: [DONE]``) is yielded with ``state["complete"]``
        set, after the record is queued; what the upstream sends after it is read and not relayed.
        """
        state["started"] = True
        reader = StreamReader(call.endpoint)
        error: OpenAIError | None = None
        after_end = 0  # bytes the upstream sent after the answer's end

        try:
            async for chunk in until(reply.aiter_raw(), deadline, self.timeout.read):
                if state["complete"]:
                    after_end += len(chunk)
                    continue
                if reader.feed(chunk):
                    call.first_token()
                if reader.done and reader.error is None and not call.logged:  # queued before the client sees the end
                    await self._finish(call, upstream, reader.finish(), status=reply.status_code)
                    state["complete"] = True
                yield chunk
            reader.finish()
            if reader.error is not None:
                error = OpenAIError(502, f"Upstream {upstream.name!r} reported an error mid-stream: {reader.error}")
            elif not reader.done:
                what = BadUpstreamAnswer("a stream that ended without 'data: [DONE]' (cut mid-answer)")
                error = bad_answer(upstream, what)
                yield failed_event(call, reader, error)
        except httpx.HTTPError as exc:
            error = network_error(upstream, exc)
            error = OpenAIError(error.status, error.message + " The stream was cut.", error.type, code=error.code)
            yield failed_event(call, reader, error)
        except TimeoutError:
            error = self._total_error(upstream)
            error = OpenAIError(504, error.message + " The stream was cut.", error.type, code=error.code)
            yield failed_event(call, reader, error)
        except BadUpstreamAnswer as exc:
            error = bad_answer(upstream, exc)
            yield failed_event(call, reader, error)
        finally:
            await self._settle(call, upstream, reply, reader, error, after_end)

    async def _settle(
        self,
        call: Call,
        upstream: Upstream,
        reply: httpx.Response,
        reader: StreamReader,
        error: OpenAIError | None,
        after_end: int,
    ) -> None:
        """A relay's end, however it came: its record (if not yet queued), then the upstream's connection closed."""
        if after_end:
            log.warning(
                "Upstream %r sent %d bytes after 'data: [DONE]' (call %s); not relayed.",
                upstream.name,
                after_end,
                call.record_id,
            )
        answer = reader.finish()
        if error is not None and not call.logged:
            log_failure(call, answer, error)
        elif error is None and not reader.done:  # the client left mid-stream
            call.finish(response=answer.text, error="stream cancelled: the client disconnected", status=499)
        with anyio.CancelScope(shield=True):
            await reply.aclose()
            if not call.logged:
                await self._finish(call, upstream, answer, status=reply.status_code)


def _renamed(body: dict[str, Any], model: str) -> bytes:
    """The body with ``model`` set to the upstream's name for it, as compact JSON."""
    return json.dumps({**body, "model": model}, ensure_ascii=False, separators=(",", ":")).encode()


async def _close_then(reply: httpx.Response, then: Callable[[], None]) -> None:
    await reply.aclose()
    then()
