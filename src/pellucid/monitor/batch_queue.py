"""The queue-and-flush core shared by the store's batched writer and the OTLP exporter.

Both take items from many threads, hand them to one background thread in batches, and let a
caller wait until everything queued so far is handled. The rules are the same:

- a batch is taken as soon as ``batch_size`` items wait, or when the oldest has waited
  ``flush_interval`` seconds, or at once when a flush is asked for or the queue is closing;
- :meth:`BatchQueue.flush` waits until the items accepted before it are *done* (handled, well
  or not), so it returns promptly however the consumer fared;
- ``_next_batch`` returns ``None`` only when closing and drained: the consumer's loop ends.

What differs stays in the subclasses: what ``put`` does when the queue is full (the writer
refuses with back-pressure, the exporter drops and counts), what handling a batch means, and
when the consumer counts as gone (:meth:`_working`). A subclass calls :meth:`_enqueue` under
``self._lock`` and :meth:`_finished` after each batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchQueue(Generic[T]):
    """A lock, a deque and the conditions around them; see the module docstring.

    Args:
        batch_size: most items per batch.
        flush_interval: longest an item waits for its batch to fill, in seconds.
    """

    def __init__(self, batch_size: int, flush_interval: float) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the consumer waits here for items
        self._progress = threading.Condition(self._lock)  # flush() waits here for handled batches
        self._pending: deque[T] = deque()
        self._oldest = 0.0
        self._accepted = self._done = 0
        self._flush_wanted = self._closing = False

    # -- hooks ----------------------------------------------------------------------------
    def _working(self) -> bool:
        """Whether the consumer can still finish batches (False: flush() stops waiting). Under the lock."""
        return True

    def _taken(self) -> None:
        """Called under the lock after a batch left the queue (e.g. to wake producers waiting for room)."""

    # -- producer side --------------------------------------------------------------------
    def _enqueue(self, item: T) -> None:
        """Append ``item`` (the caller holds ``self._lock`` and has checked for room)."""
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(item)
        self._accepted += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Handle everything queued before this call; True when done, False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            self._flush_wanted = True
            self._work.notify()
            while self._done < target and self._working():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return self._done >= target

    # -- consumer side --------------------------------------------------------------------
    def _next_batch(self) -> list[T] | None:
        """The next batch, waiting for it; ``None`` when closing and drained."""
        with self._lock:
            while not self._pending and not self._closing:
                self._flush_wanted = False
                self._work.wait()
            if not self._pending:
                return None
            while len(self._pending) < self.batch_size and not (self._closing or self._flush_wanted):
                remaining = self._oldest + self.flush_interval - time.monotonic()
                if remaining <= 0:
                    break
                self._work.wait(remaining)
            batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
            self._oldest = time.monotonic()
            self._taken()
            return batch

    def _finished(self, count: int) -> None:
        """Mark ``count`` items handled (the caller holds the lock) and wake flush() waiters."""
        self._done += count
        self._progress.notify_all()
