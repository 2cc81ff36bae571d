"""A unit of work repeated every few seconds in a daemon thread: the shape of the server's background jobs.

The enricher and the alert scheduler both subclass :class:`PeriodicWorker` and implement
:meth:`PeriodicWorker.run_round`. A round that raises is logged and retried at the next tick, so
one bad batch or an unreachable webhook never stops the worker; :meth:`PeriodicWorker.stop` lets
the current round finish (a round can watch ``self._stop`` to end early) and joins the thread.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PeriodicWorker(ABC):
    """Runs :meth:`run_round` every ``interval`` seconds in a daemon thread named ``thread_name``."""

    thread_name = "pellucid-worker"
    interval: float

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def run_round(self) -> None:
        """One round of work."""

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_round()
            except Exception:  # keep the worker alive: the next round retries
                log.exception("%s: a round failed; retrying in %.0f s", self.thread_name, self.interval)
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Start the thread (no-op when it runs already)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop after its current round and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
