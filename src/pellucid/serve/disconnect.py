"""Stop a long computation when the client that asked for it goes away.

:func:`run_until_disconnect` runs ``work(progress)`` in a worker thread while the event loop
listens for the client's ``http.disconnect``. When it comes (the browser's *Cancel* aborts the
fetch, a tab closes), a cancel event is set, and the next ``progress(done, total)`` call inside
the computation raises :class:`~pellucid.errors.Cancelled`: the thread stops at its next
progress point instead of finishing work nobody will read. The attribution engine calls
``progress`` after each batch of perturbed prompts (each chunk of gradient steps, each LRP row).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from fastapi import Request

from pellucid.errors import Cancelled

T = TypeVar("T")
Progress = Callable[[int, int], None]


class CancelToken:
    """A cancel event and the progress callback that honours it."""

    def __init__(self, reason: str = "The client closed the connection; the computation stopped.") -> None:
        self.event = threading.Event()
        self.reason = reason
        self.calls = 0

    def progress(self, done: int, total: int) -> None:
        """A progress point: raise :class:`Cancelled` once the event is set."""
        self.calls += 1
        if self.event.is_set():
            raise Cancelled(f"{self.reason} (stopped at {done} of {total}).")


async def _watch(request: Request, token: CancelToken) -> None:
    """Set ``token`` when the client disconnects (the request body is already read)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            token.event.set()
            return


async def run_until_disconnect(request: Request, work: Callable[[Progress], T]) -> T:
    """``work(progress)`` in a thread, cancelled at its next progress point if the client leaves."""
    token = CancelToken()
    watcher = asyncio.ensure_future(_watch(request, token))
    try:
        return await anyio.to_thread.run_sync(work, token.progress)
    finally:
        watcher.cancel()
