"""Reading an upstream's answers on the side: what a proxied call produced, for its record.

The proxy never rewrites what the upstream sends; it only reads it. Two shapes:

- a JSON answer (:func:`read_answer`): checked against the endpoint's OpenAI schema (``choices``
  for completions, ``data`` for embeddings). An answer that is not JSON, or lacks the fields
  every OpenAI client reads, raises :class:`BadUpstreamAnswer` — the proxy turns it into a 502
  naming the upstream and quoting what it sent, instead of passing on something the client
  cannot parse.
- a stream of server-sent events (:class:`StreamReader`): fed the bytes as they are forwarded,
  it splits them into ``data:`` lines and accumulates the text, the finish reason and the usage
  (present when the client asked for ``stream_options.include_usage``). It keeps only the last
  incomplete line, so nothing is held back from the client.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

_SHOWN = 200  # characters of a bad answer quoted in errors


class BadUpstreamAnswer(Exception):
    """The upstream's answer is not what an OpenAI-compatible server sends."""


def excerpt(data: bytes | str) -> str:
    """The start of what the upstream sent, printable, for error messages."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return repr(text[:_SHOWN] + ("..." if len(text) > _SHOWN else "")) if text else "an empty body"


@dataclass
class Answer:
    """What one proxied call produced (token counts ``None`` when the upstream gave none)."""

    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: the model name the upstream reported
    model: str | None = None


def _count(usage: Any, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(answer: Answer, usage: Any) -> None:
    if isinstance(usage, dict):
        answer.prompt_tokens = _count(usage, "prompt_tokens")
        answer.completion_tokens = _count(usage, "completion_tokens")


def _choice_text(choice: dict[str, Any], endpoint: str, *, delta: bool) -> str | None:
    if endpoint == "completions":
        text = choice.get("text")
    else:
        message = choice.get("delta" if delta else "message")
        if not isinstance(message, dict):
            raise BadUpstreamAnswer(f"a choice without a {'delta' if delta else 'message'} object")
        text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise BadUpstreamAnswer(f"choice text of type {type(text).__name__}, not a string")
    return text


def read_answer(endpoint: str, body: bytes) -> Answer:
    """The answer in a JSON body of ``endpoint`` (``chat.completions``, ``completions``, ``embeddings``)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadUpstreamAnswer(f"a body that is not JSON: {excerpt(body)}") from None
    if not isinstance(data, dict):
        raise BadUpstreamAnswer(f"JSON that is not an object: {excerpt(body)}")
    answer = Answer(model=data.get("model") if isinstance(data.get("model"), str) else None)
    _usage(answer, data.get("usage"))
    if endpoint == "embeddings":
        if not isinstance(data.get("data"), list):
            raise BadUpstreamAnswer(f"an embeddings answer without a 'data' list: {excerpt(body)}")
        return answer
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadUpstreamAnswer(f"an answer without a 'choices' list: {excerpt(body)}")
    try:
        answer.text = _choice_text(choices[0], endpoint, delta=False) or ""
    except BadUpstreamAnswer as exc:
        raise BadUpstreamAnswer(f"{exc}: {excerpt(body)}") from None
    reason = choices[0].get("finish_reason")
    answer.finish_reason = reason if isinstance(reason, str) else None
    return answer


@dataclass
class StreamReader:
    """Accumulates a streamed answer from the raw bytes forwarded to the client."""

    endpoint: str
    answer: Answer = field(default_factory=Answer)
    #: ``data: [DONE]`` arrived (a stream that ends without it was cut)
    done: bool = False
    #: an ``error`` event arrived from the upstream (its message)
    error: str | None = None
    _pieces: list[str] = field(default_factory=list)
    _rest: bytes = b""

    def feed(self, chunk: bytes) -> bool:
        """Read the complete lines of ``chunk``; True when they carried the first text of the answer."""
        had_text = bool(self._pieces)
        lines = (self._rest + chunk).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._line(line.strip())
        return not had_text and bool(self._pieces)

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return  # comments, event names, ids, blank separators
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.done = True
            return
        try:
            data = json.loads(payload)
        except ValueError:
            raise BadUpstreamAnswer(f"a stream event that is not JSON: {excerpt(payload)}") from None
        if not isinstance(data, dict):
            raise BadUpstreamAnswer(f"a stream event that is not an object: {excerpt(payload)}")
        if isinstance(data.get("error"), dict):
            self.error = str(data["error"].get("message") or data["error"])
            return
        if isinstance(data.get("model"), str):
            self.answer.model = data["model"]
        if data.get("usage"):
            _usage(self.answer, data["usage"])
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise BadUpstreamAnswer(f"a stream event without a 'choices' list: {excerpt(payload)}")
        if choices and isinstance(choices[0], dict):
            text = _choice_text(choices[0], self.endpoint, delta=True)
            if text:
                self._pieces.append(text)
            if isinstance(choices[0].get("finish_reason"), str):
                self.answer.finish_reason = choices[0]["finish_reason"]

    def finish(self) -> Answer:
        """The answer so far (call at the end of the stream, whole or cut)."""
        if self._rest.strip():
            self._line(self._rest.strip())
            self._rest = b""
        self.answer.text = self.text
        return self.answer


async def until(
    chunks: AsyncIterator[bytes], deadline: float, read_timeout: float | None = None
) -> AsyncIterator[bytes]:
    """``chunks``, raising ``TimeoutError`` when the next one has not come by ``deadline`` (``time.monotonic()``).

    ``read_timeout`` is the transport's own limit on each read (httpx raises ``ReadTimeout`` past
    it). While more than that is left before ``deadline``, that limit ends a stalled read first,
    so the read needs no cancel scope of its own: a scope is opened only for the reads near the
    deadline, which spares a scope per chunk on every healthy stream.
    """
    iterator = aiter(chunks)
    while True:
        left = deadline - time.monotonic()
        try:
            if read_timeout is not None and left > read_timeout:
                chunk = await anext(iterator)
            else:
                with anyio.fail_after(max(left, 0.0)):
                    chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        yield chunk
