"""Stop a long computation when the client that asked for it goes away.

:func:`run_until_disconnect` runs ``work(progress)`` in a worker thread while the event loop
listens for the client's ``http.disconnect``. When it comes (the browser's *Cancel* aborts the
fetch, a tab closes), a cancel event is set, and the next ``progress(done, total)`` call inside
the computation raises :class:`~pellucid.errors.Cancelled`: the thread stops at its next
progress point instead of finishing work nobody will read. The attribution engine calls
``progress`` after each batch of perturbed prompts (each chunk of gradient steps, each LRP row).

Computations without progress points (inspect verbs, counterfactual answers) are stopped
between forward passes instead: inside ``with token.guard(lm)``, the next forward pass of the
model — or the next block of one — started by the computation's thread raises
:class:`~pellucid.errors.Cancelled` once the client has gone. The model side of this is
``LM.cancel_check`` (:mod:`pellucid.models.cancel`): a per-thread check run by hooks installed
when the model was loaded, so nothing is registered on a model other threads are running, and
other threads using the same model (the gateway answering calls) are not affected.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread
from fastapi import Request

from pellucid.errors import Cancelled

if TYPE_CHECKING:
    from pellucid.models import LM

T = TypeVar("T")
Progress = Callable[[int, int], None]


class CancelToken:
    """A cancel event and the progress callback that honours it (the token itself is that callback)."""

    def __init__(self, reason: str = "The client closed the connection; the computation stopped.") -> None:
        self.event = threading.Event()
        self.reason = reason
        self.calls = 0
        self.done: int | None = None  # the last progress point, for GET /api/progress/{id}
        self.total: int | None = None

    def check(self, where: str) -> None:
        """Raise :class:`Cancelled` (saying ``where`` the work stopped) once the event is set."""
        if self.event.is_set():
            raise Cancelled(f"{self.reason} ({where}).")

    def progress(self, done: int, total: int) -> None:
        """A progress point: raise :class:`Cancelled` once the event is set."""
        self.calls += 1
        self.done, self.total = int(done), int(total)
        self.check(f"stopped at {done} of {total}")

    def __call__(self, done: int, total: int) -> None:
        self.progress(done, total)

    @contextmanager
    def guard(self, lm: LM) -> Iterator[None]:
        """Within the block, this thread's forward passes through ``lm`` (and each of their blocks)
        stop once the event is set; other threads' are not affected."""
        with lm.cancel_check(self._before_forward):
            yield

    def _before_forward(self) -> None:
        self.check("stopped before a forward pass")


async def _watch(request: Request, token: CancelToken) -> None:
    """Set ``token`` when the client disconnects (the request body is already read)."""
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            token.event.set()
            return


#: The request header that names a request's progress, for ``GET /api/progress/{id}``.
PROGRESS_HEADER = "x-pellucid-progress"
_MAX_TRACKED = 256


class ProgressBoard:
    """The progress of running requests that asked for it (by :data:`PROGRESS_HEADER`), by id.

    The workbench names a long request with a random id and polls ``GET /api/progress/{id}``
    while it runs, to show "1,200 of 4,000 perturbed prompts" instead of only the elapsed time.
    An id is known from the request's start to its end; at most 256 are kept at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, CancelToken] = {}

    def add(self, key: str, token: CancelToken) -> None:
        with self._lock:
            if len(self._tokens) >= _MAX_TRACKED:
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[key] = token

    def remove(self, key: str, token: CancelToken) -> None:
        with self._lock:
            if self._tokens.get(key) is token:
                del self._tokens[key]

    def get(self, key: str) -> CancelToken | None:
        with self._lock:
            return self._tokens.get(key)


async def run_until_disconnect(request: Request, work: Callable[[CancelToken], T]) -> T:
    """``work(token)`` in a thread, cancelled at its next progress point (``token(done, total)``)
    or guarded forward pass (``with token.guard(lm)``) if the client leaves. A request with a
    :data:`PROGRESS_HEADER` has its progress readable at ``GET /api/progress/{id}`` meanwhile."""
    from pellucid.serve.state import state_of  # the state holds the board: imported when used

    token = CancelToken()
    key = request.headers.get(PROGRESS_HEADER, "")[:100]
    board = state_of(request.app).progress if key else None
    if board is not None:
        board.add(key, token)
    watcher = asyncio.ensure_future(_watch(request, token))
    try:
        return await anyio.to_thread.run_sync(work, token)
    finally:
        watcher.cancel()
        if board is not None:
            board.remove(key, token)
