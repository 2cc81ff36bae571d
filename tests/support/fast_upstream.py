"""A fast OpenAI-compatible server, run as its own process: the upstream of proxy load tests and benchmarks.

It answers ``POST /v1/chat/completions`` (JSON, or a stream of ``--chunks`` chunks when
``stream`` is true, with usage when ``stream_options.include_usage``) and ``GET /v1/models``
at once, with no model behind it, so what a load test or a benchmark measures is the proxy,
not generation. ``--delay-ms`` waits that long before each streamed chunk (a model's pace);
with ``--batched`` the chunks of all open streams leave together on a shared clock, every
``--delay-ms``, as a batching server's decode steps emit one token for every sequence in the
batch at once. A raw ASGI app on uvicorn, no framework in the way::

    python -m tests.support.fast_upstream --port 8001 [--chunks 8] [--delay-ms 0] [--batched]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.loopback import free_port

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
REPO = Path(__file__).resolve().parents[2]


def _completion(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-fast", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok fast"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }).encode()  # fmt: skip


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class FastUpstream:
    """The ASGI app; ``chunks`` pieces per stream, ``delay`` seconds before each (on a shared clock if ``batched``)."""

    def __init__(self, chunks: int = 8, delay: float = 0.0, batched: bool = False) -> None:
        self.chunks, self.delay, self.batched = chunks, delay, batched

    async def _pause(self) -> None:
        """Wait ``delay``, or until the next step of the shared clock (a multiple of ``delay``) if batched."""
        if self.batched:
            await asyncio.sleep(self.delay - asyncio.get_running_loop().time() % self.delay)
        else:
            await asyncio.sleep(self.delay)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"].endswith("/models"):
            listed = {"object": "list", "data": [{"id": "fast", "object": "model", "created": 1, "owned_by": "fast"}]}
            return await self._send(send, 200, "application/json", json.dumps(listed).encode())
        request = json.loads(body or b"{}")
        model = str(request.get("model") or "fast")
        if not request.get("stream"):
            return await self._send(send, 200, "application/json", _completion(model))
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {
                "type": "http.response.body",
                "body": _chunk(model, {"role": "assistant", "content": ""}),
                "more_body": True,
            }
        )
        for i in range(self.chunks):
            if self.delay:
                await self._pause()
            await send({"type": "http.response.body", "body": _chunk(model, {"content": f" w{i}"}), "more_body": True})
        tail = _chunk(model, {}, "stop")
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 5, "completion_tokens": self.chunks, "total_tokens": 5 + self.chunks}
            tail += (
                b"data: "
                + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage}).encode()
                + b"\n\n"
            )
        await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n", "more_body": False})

    @staticmethod
    async def _send(send: Send, status: int, kind: str, content: bytes) -> None:
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@contextmanager
def fast_upstream_process(chunks: int = 8, delay_ms: float = 0.0, batched: bool = False) -> Iterator[str]:
    """Run the server in a subprocess for the block; yields its API base (``http://127.0.0.1:P/v1``)."""
    with fast_upstream_server(chunks, delay_ms, batched) as (base, _):
        yield base


@contextmanager
def fast_upstream_server(
    chunks: int = 8, delay_ms: float = 0.0, batched: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As :func:`fast_upstream_process`, yielding the API base and the process (for its pid)."""
    port = free_port()
    cmd = [sys.executable, "-m", "tests.support.fast_upstream", "--port", str(port),
           "--chunks", str(chunks), "--delay-ms", str(delay_ms), *(["--batched"] if batched else [])]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the fast upstream on port {port} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1", proc
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--batched", action="store_true", help="all streams' chunks leave together every --delay-ms")
    args = parser.parse_args()
    app = FastUpstream(args.chunks, args.delay_ms / 1000, args.batched)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
