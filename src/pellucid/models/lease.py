"""A per-model lease: many plain forward passes at once, or one thing that changes the model.

A loaded model is one shared object. A hook registered by one thread changes the forward pass
of *every* thread (an ablation in the workbench would silently change the gateway's answer),
and so does cutting the block list or swapping how modules compute (LRP). The lease is a
reader–writer lock that makes the two kinds of work take turns:

- **shared** — plain forward passes, scoring, generation: any number of threads at once;
- **exclusive** — anything that installs hooks or changes modules: one thread, while no shared
  holder runs. Its own forward passes (shared requests of the same thread) proceed inside it.

Rules, each tested in ``tests/models/test_lease.py``:

- *Reentrant per thread.* A thread holding the exclusive lease may take shared or exclusive
  again (nested levels are counted); a thread holding shared may take shared again, even while
  an exclusive request waits (refusing would deadlock it against itself).
- *No upgrade.* Asking for exclusive while the same thread holds only shared raises
  :class:`RuntimeError`: two threads upgrading at once would each wait for the other to let go.
  Take the exclusive lease first, at the outermost level.
- *Writer preference.* Once an exclusive request waits, new shared requests queue behind it, so
  a steady stream of generations cannot starve an inspection.
- *Turns.* When an exclusive holder lets go, the shared requests already waiting go before the
  next exclusive one, so an inspection that takes the lease for each of its many small steps
  (a patching sweep) lets the waiting generations through between steps instead of starving them.
- *Timeouts.* ``acquire(..., timeout=s)`` raises :class:`LeaseTimeout`, naming the model and who
  holds it, instead of waiting longer.
- *Exceptions release.* The context manager releases in ``__exit__`` whatever the block raised.

Cost: an uncontended acquire/release pair is one thread-local read and one short critical
section each way — a few microseconds in CPython, against milliseconds for the smallest forward
pass (``tests/models/test_lease.py`` prints the figure).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from pellucid.errors import PellucidError


class LeaseTimeout(PellucidError, TimeoutError):
    """Waiting for a model's lease took longer than the timeout given."""


class Lease:
    """A reentrant reader–writer lease on one model (see the module docstring).

    Args:
        name: what the errors call the leased object (the model's name).
    """

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._mutex = threading.Lock()
        self._shared_ok = threading.Condition(self._mutex)
        self._exclusive_ok = threading.Condition(self._mutex)
        self._readers = 0  # threads holding the shared lease (each counted once)
        self._writer: int | None = None  # thread ident holding the exclusive lease
        self._writer_depth = 0  # nesting levels of the writer (exclusive and shared alike)
        self._writers_waiting = 0
        self._shared_waiting = 0
        self._admitted = 0  # shared requests let past waiting writers when an exclusive holder let go
        self._local = threading.local()  # .depth: this thread's nesting of shared holds

    # -- state ---------------------------------------------------------------------------
    def held(self) -> str | None:
        """What the calling thread holds: ``"exclusive"``, ``"shared"`` or ``None``."""
        if self._writer == threading.get_ident():
            return "exclusive"
        return "shared" if getattr(self._local, "depth", 0) else None

    def state(self) -> dict[str, int]:
        """A snapshot: threads holding ``shared``, ``exclusive`` (0 or 1), exclusive requests ``waiting``
        and shared ones (``waiting_shared``)."""
        with self._mutex:
            return {
                "shared": self._readers,
                "exclusive": int(self._writer is not None),
                "waiting": self._writers_waiting,
                "waiting_shared": self._shared_waiting,
            }

    def __repr__(self) -> str:
        holder = f"exclusive by thread {self._writer}" if self._writer is not None else f"{self._readers} shared"
        return f"Lease({self.name!r}, {holder}, {self._writers_waiting} exclusive waiting)"

    # -- acquire / release ---------------------------------------------------------------
    def acquire(self, exclusive: bool = False, timeout: float | None = None) -> None:
        """Take the lease (blocking); ``timeout`` seconds at most, then :class:`LeaseTimeout`."""
        me = threading.get_ident()
        if self._writer == me:  # only this thread sets or clears its own ident: no lock needed
            self._writer_depth += 1
            return
        depth = getattr(self._local, "depth", 0)
        if exclusive:
            if depth:
                raise RuntimeError(
                    f"This thread holds the shared lease of {self.name} and asks for the exclusive one; "
                    "upgrading could deadlock against another thread doing the same. Take the exclusive "
                    "lease first, outside the shared section (e.g. enter lm.hooks(...) before running forwards)."
                )
            self._acquire_exclusive(me, timeout)
        elif depth:
            self._local.depth = depth + 1
        else:
            self._acquire_shared(timeout)
            self._local.depth = 1

    def release(self) -> None:
        """Give back the most recent level taken by this thread."""
        if self._writer == threading.get_ident():
            self._writer_depth -= 1
            if self._writer_depth == 0:
                with self._mutex:
                    self._writer = None
                    self._admitted = self._shared_waiting  # their turn comes before the next writer's
                    self._wake()
            return
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            raise RuntimeError(f"release() of {self.name}'s lease by a thread that does not hold it.")
        self._local.depth = depth - 1
        if depth == 1:
            with self._mutex:
                self._readers -= 1
                self._wake()

    def __call__(self, exclusive: bool = False, timeout: float | None = None) -> _Held:
        """``with lease(exclusive=...):`` — acquire on entry, release on exit."""
        return _Held(self, exclusive, timeout)

    # -- internals (called with the mutex released; they take it) -------------------------
    def _acquire_shared(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            if self._writer is None and not self._writers_waiting:
                self._readers += 1
                return
            self._shared_waiting += 1
            try:
                while self._writer is not None or (self._writers_waiting and not self._admitted):
                    if not self._shared_ok.wait(_remaining(deadline)):
                        raise self._timeout("shared", timeout)
                self._admitted = max(0, self._admitted - 1)
                self._readers += 1
            finally:
                self._shared_waiting -= 1
                self._admitted = min(self._admitted, self._shared_waiting)  # a request that gave up frees its turn
                self._wake()

    def _acquire_exclusive(self, me: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers or self._admitted:
                    if not self._exclusive_ok.wait(_remaining(deadline)):
                        raise self._timeout("exclusive", timeout)
                self._writer, self._writer_depth = me, 1
            finally:
                self._writers_waiting -= 1
                self._wake()  # a writer that gave up no longer holds shared requests back

    def _wake(self) -> None:
        """Wake whoever may go now (called with the mutex held, after any change of state).

        Waiters re-check their condition, so waking too many is harmless; all of a kind are woken,
        so a waiter that times out as it is woken cannot swallow another's wake-up.
        """
        if self._writer is not None:
            return
        if self._shared_waiting and (self._admitted or not self._writers_waiting):
            self._shared_ok.notify_all()
        elif self._writers_waiting and not self._readers:
            self._exclusive_ok.notify_all()

    def _timeout(self, mode: str, timeout: float | None) -> LeaseTimeout:
        holder = "another thread holds it exclusively" if self._writer is not None else f"{self._readers} shared"
        return LeaseTimeout(
            f"Waited {timeout:g} s for the {mode} lease of {self.name} ({holder}, "
            f"{self._writers_waiting} exclusive request(s) waiting). Retry later, or give a longer timeout."
        )


class _Held:
    """The context manager returned by ``lease(...)``."""

    __slots__ = ("_lease", "_exclusive", "_timeout")

    def __init__(self, lease: Lease, exclusive: bool, timeout: float | None) -> None:
        self._lease, self._exclusive, self._timeout = lease, exclusive, timeout

    def __enter__(self) -> None:
        self._lease.acquire(self._exclusive, self._timeout)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lease.release()


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())
