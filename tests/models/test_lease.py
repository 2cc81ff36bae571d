"""The per-model lease on its own: ordering, reentrancy, the upgrade error, writer preference,
timeouts, release after exceptions, and what a pair costs.

Waiting is observed through ``Lease.state()`` (a thread that waits for the exclusive lease shows
as ``waiting``) and through events a thread sets once it got in, never through sleeps alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from pellucid.models.lease import Lease, LeaseTimeout

FREE = {"shared": 0, "exclusive": 0, "waiting": 0, "waiting_shared": 0}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


class Holder:
    """A thread that takes the lease, reports it, and holds it until told to let go."""

    def __init__(self, lease: Lease, exclusive: bool, log: list[str] | None = None, label: str = "") -> None:
        self.lease, self.exclusive, self.log, self.label = lease, exclusive, log, label
        self.inside = threading.Event()
        self.go = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.lease(exclusive=self.exclusive, timeout=30):
                if self.log is not None:
                    self.log.append(self.label)
                self.inside.set()
                self.go.wait(30)
        except BaseException as error:  # reported to the test thread
            self.error = error

    def start(self) -> Holder:
        self.thread.start()
        return self

    def finish(self) -> None:
        self.go.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def test_shared_holders_run_together_and_exclusive_waits_for_them():
    lease = Lease("m")
    a, b = Holder(lease, False).start(), Holder(lease, False).start()
    assert a.inside.wait(10) and b.inside.wait(10)  # both inside at once
    assert lease.state() == {"shared": 2, "exclusive": 0, "waiting": 0, "waiting_shared": 0}
    writer = Holder(lease, True).start()
    wait_until(lambda: lease.state()["waiting"] == 1, "the exclusive request waits")
    assert not writer.inside.is_set()
    a.finish()
    assert not writer.inside.wait(0.05)  # one shared holder is still inside
    b.finish()
    assert writer.inside.wait(10)
    assert lease.state() == {"shared": 0, "exclusive": 1, "waiting": 0, "waiting_shared": 0}
    writer.finish()
    assert lease.state() == FREE


def test_exclusive_excludes_everyone_else_and_waiting_readers_take_the_next_turn():
    lease, log = Lease("m"), []
    writer = Holder(lease, True, log, "writer").start()
    assert writer.inside.wait(10)
    reader = Holder(lease, False, log, "reader").start()
    wait_until(lambda: lease.state()["waiting_shared"] == 1, "the shared request waits")
    other_writer = Holder(lease, True, log, "other writer").start()
    wait_until(lambda: lease.state()["waiting"] == 1, "the second exclusive request waits")
    assert not reader.inside.wait(0.05) and not other_writer.inside.is_set()
    writer.finish()
    assert reader.inside.wait(10)  # it waited through the first writer: it goes before the second
    assert not other_writer.inside.wait(0.05)
    reader.finish()
    assert other_writer.inside.wait(10)
    other_writer.finish()
    assert log == ["writer", "reader", "other writer"]


def test_a_writer_taking_the_lease_in_a_loop_does_not_starve_readers():
    lease, stop, turns = Lease("m"), threading.Event(), []

    def sweep() -> None:  # an inspection: many small exclusive steps back to back
        while not stop.is_set():
            with lease(exclusive=True):
                turns.append("w")

    writer = threading.Thread(target=sweep, daemon=True)
    writer.start()
    wait_until(lambda: len(turns) > 10, "the sweep runs")
    for _ in range(20):
        with lease(timeout=10):  # each shared request gets in after at most one more exclusive step
            turns.append("r")
    stop.set()
    writer.join(10)
    assert turns.count("r") == 20 and turns.count("w") > 10


def test_reentrant_for_the_thread_holding_exclusive():
    lease = Lease("m")
    with lease(exclusive=True):
        with lease():
            with lease(exclusive=True):
                assert lease.held() == "exclusive"
            assert lease.held() == "exclusive"
        assert lease.state()["exclusive"] == 1
    assert lease.held() is None and lease.state() == FREE
    other = Holder(lease, True).start()  # free again for another thread
    assert other.inside.wait(10)
    other.finish()


def test_nested_shared_proceeds_while_an_exclusive_request_waits():
    lease = Lease("m")
    with lease():
        writer = Holder(lease, True).start()
        wait_until(lambda: lease.state()["waiting"] == 1, "the exclusive request waits")
        with lease(timeout=1):  # a new reader would queue behind the writer; a nested one must not
            assert lease.held() == "shared"
        assert not writer.inside.is_set()
    assert writer.inside.wait(10)
    writer.finish()


def test_asking_for_exclusive_while_holding_shared_raises_instead_of_hanging():
    lease = Lease("gpt-tiny")
    with lease():
        with pytest.raises(RuntimeError, match="holds the shared lease of gpt-tiny.*Take the exclusive lease first"):
            with lease(exclusive=True):
                pass
        assert lease.held() == "shared"  # the refused request left the shared hold as it was
    assert lease.state() == FREE


def test_writer_preference_new_readers_queue_behind_a_waiting_writer():
    lease, log = Lease("m"), []
    first = Holder(lease, False, log, "reader 1").start()
    assert first.inside.wait(10)
    writer = Holder(lease, True, log, "writer").start()
    wait_until(lambda: lease.state()["waiting"] == 1, "the writer waits")
    late = Holder(lease, False, log, "reader 2").start()
    assert not late.inside.wait(0.1)  # without writer preference it would join reader 1 at once
    first.finish()
    assert writer.inside.wait(10)
    writer.finish()
    assert late.inside.wait(10)
    late.finish()
    assert log == ["reader 1", "writer", "reader 2"]


def test_exceptions_release_the_lease():
    lease = Lease("m")
    with pytest.raises(ValueError, match="boom"):
        with lease(exclusive=True):
            with lease():
                raise ValueError("boom")
    with pytest.raises(KeyError):
        with lease():
            raise KeyError("x")
    assert lease.held() is None and lease.state() == FREE
    other = Holder(lease, True).start()
    assert other.inside.wait(10)
    other.finish()


def test_timeouts_raise_a_clear_error_and_a_writer_that_gives_up_lets_readers_in():
    lease = Lease("tiny-llama")
    writer = Holder(lease, True).start()
    assert writer.inside.wait(10)
    with pytest.raises(LeaseTimeout, match=r"Waited 0.05 s for the shared lease of tiny-llama .*exclusively"):
        with lease(timeout=0.05):
            pass
    writer.finish()
    reader = Holder(lease, False).start()
    assert reader.inside.wait(10)
    with pytest.raises(LeaseTimeout, match="exclusive lease of tiny-llama .*1 shared"):
        lease.acquire(exclusive=True, timeout=0.05)
    assert lease.state() == {"shared": 1, "exclusive": 0, "waiting": 0, "waiting_shared": 0}
    queued = Holder(lease, False).start()  # not held back by the writer that gave up
    assert queued.inside.wait(10)
    reader.finish()
    queued.finish()
    assert issubclass(LeaseTimeout, TimeoutError)


def test_release_without_holding_is_an_error():
    with pytest.raises(RuntimeError, match="does not hold it"):
        Lease("m").release()


def test_the_cost_of_an_acquire_release_pair_is_printed(capsys):
    lease, n = Lease("m"), 5000
    timings = {}
    for label, exclusive in (("shared", False), ("exclusive", True)):
        started = time.perf_counter()
        for _ in range(n):
            with lease(exclusive=exclusive):
                pass
        timings[label] = (time.perf_counter() - started) / n * 1e6
    with capsys.disabled():
        print(f"\nlease pair: shared {timings['shared']:.2f} µs, exclusive {timings['exclusive']:.2f} µs ({n} each)")
    assert lease.state() == FREE
