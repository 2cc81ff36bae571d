"""Drive an ASGI app as uvicorn does, including a client that goes away mid-request."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any


async def call_and_leave(app: Any, path: str, body: dict[str, Any], progressed: threading.Event) -> list[Any]:
    """POST ``body``; disconnect once the computation has reported progress; the ASGI messages sent."""
    payload = json.dumps(body).encode()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": payload, "more_body": False}
        while not progressed.is_set():
            await asyncio.sleep(0.005)
        return {"type": "http.disconnect"}

    messages: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    await asyncio.wait_for(app(scope, receive, send), timeout=120)
    return messages
