"""PeriodicWorker: rounds repeat, a failing round is logged and retried, stop joins the thread."""

from __future__ import annotations

import threading

from pellucid.monitor.background import PeriodicWorker


class _Flaky(PeriodicWorker):
    thread_name = "test-flaky"
    interval = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.third = threading.Event()

    def run_round(self) -> None:
        self.rounds += 1
        if self.rounds >= 3:
            self.third.set()
        if self.rounds == 1:
            raise RuntimeError("first round fails")


def test_a_failing_round_does_not_stop_the_worker(caplog) -> None:
    worker = _Flaky()
    worker.start()
    worker.start()  # already running: no second thread
    assert worker.third.wait(5), "the worker stopped after its failing round"
    worker.stop()
    assert not worker.running
    assert not any(t.name == "test-flaky" for t in threading.enumerate())
    assert "test-flaky: a round failed" in caplog.text
