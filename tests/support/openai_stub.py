"""A small OpenAI-compatible upstream whose behaviour is picked by the requested model name.

Only for the cases a real server cannot be made to produce on demand: answers that are not
JSON, answers of the wrong shape, a stream cut in the middle, a slow answer, an error status.

- ``ok``: a chat completion ``"Hello from the stub"`` with usage 7/4;
- ``nousage``: the same without ``usage``;
- ``html``: a 200 ``text/html`` page; ``schema``: JSON without ``choices``;
- ``limited``: a 429 OpenAI error; ``broken``: a 500 plain-text body;
- ``slow``: answers after 3 s;
- ``stream``: three chunks, a usage chunk when asked, ``[DONE]``;
- ``cut``: two chunks, then the connection is dropped without ending the response;
- ``stall``: streamed, one chunk then silence for 30 s (an upstream that hangs mid-stream);
  when the caller closes the connection meanwhile, the model's name is added to
  ``app.state.left``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

TEXT = "Hello from the stub"
PIECES = ["Hello", " from", " the stub"]


def _completion(model: str, usage: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1,
        "model": f"{model}-v1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    return body


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "stream-v1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(data)}\n\n".encode()


async def _events(
    body: dict[str, Any], cut: bool, stall: bool = False, left: list[str] | None = None
) -> AsyncIterator[bytes]:
    yield _chunk({"role": "assistant", "content": ""})
    if stall:
        yield _chunk({"content": PIECES[0]})
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # the caller closed the connection
            if left is not None:
                left.append(str(body.get("model")))
            raise
    for i, piece in enumerate(PIECES):
        if cut and i == 2:
            raise ConnectionResetError("the stub drops the connection mid-stream")
        await asyncio.sleep(0.05)
        yield _chunk({"content": piece})
    yield _chunk({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        last = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage}
        yield f"data: {json.dumps(last)}\n\n".encode()
    yield b"data: [DONE]\n\n"


async def chat(request: Request) -> Response:
    body = await request.json()
    request.app.state.seen.append({"body": body, "authorization": request.headers.get("authorization")})
    model = body.get("model")
    if model in ("stream", "cut", "stall") and body.get("stream"):
        events = _events(body, model == "cut", model == "stall", request.app.state.left)
        return StreamingResponse(events, media_type="text/event-stream")
    if model == "html":
        return Response("<html><body>Bad gateway</body></html>", 200, media_type="text/html")
    if model == "schema":
        return JSONResponse({"result": "no choices here"})
    if model == "limited":
        error = {"message": "Rate limit reached for stub", "type": "rate_limit_error", "param": None, "code": None}
        return JSONResponse({"error": error}, 429)
    if model == "broken":
        return PlainTextResponse("upstream exploded", 500)
    if model == "slow":
        await asyncio.sleep(3)
    return JSONResponse(_completion(str(model), usage=model != "nousage"))


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "ok", "object": "model", "created": 5, "owned_by": "stub"}]})


def stub_app() -> Starlette:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])
    app.state.seen = []
    app.state.left = []  # streams whose caller went away mid-answer
    return app
