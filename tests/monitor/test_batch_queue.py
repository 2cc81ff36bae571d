"""The queue-and-flush core shared by the store's writer and the OTLP exporter."""

from __future__ import annotations

import threading
import time

from pellucid.monitor.batch_queue import BatchQueue


class Collector(BatchQueue[int]):
    """A consumer thread that records each batch it takes."""

    def __init__(self, batch_size: int, flush_interval: float) -> None:
        super().__init__(batch_size, flush_interval)
        self.batches: list[list[int]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def put(self, item: int) -> None:
        with self._lock:
            self._enqueue(item)
            self._work.notify()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._work.notify()
        self.thread.join(10)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            with self._lock:
                self.batches.append(batch)
                self._finished(len(batch))


def test_full_batches_go_at_once_and_the_rest_after_the_interval() -> None:
    queue = Collector(batch_size=3, flush_interval=0.3)
    started = time.monotonic()
    for i in range(7):
        queue.put(i)
    assert queue.flush(timeout=10)
    assert [len(b) for b in queue.batches] == [3, 3, 1] and sum(queue.batches, []) == list(range(7))
    assert time.monotonic() - started < 0.3  # flush() did not wait for the interval
    queue.put(7)
    time.sleep(0.6)  # no flush: the lone item leaves after flush_interval
    assert queue.batches[-1] == [7]
    queue.close()
    assert not queue.thread.is_alive()


def test_flush_returns_false_after_its_timeout_when_nothing_consumes() -> None:
    queue: BatchQueue[int] = BatchQueue(batch_size=2, flush_interval=0.1)
    with queue._lock:
        queue._enqueue(1)
    started = time.monotonic()
    assert queue.flush(timeout=0.2) is False
    assert 0.2 <= time.monotonic() - started < 2.0
