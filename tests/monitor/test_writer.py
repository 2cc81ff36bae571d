"""The batch writer under faults: retries, back-pressure, poison records, giving up on close."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from pellucid.errors import InvalidInputError
from pellucid.monitor import (
    BatchWriter,
    NewRecord,
    Store,
    StoreBusyError,
    StoreClosedError,
    StoreError,
)
from pellucid.monitor.repository import Repository


def _down() -> OperationalError:
    return OperationalError("INSERT INTO records ...", {}, Exception("server closed the connection unexpectedly"))


class CommitsThenFails:
    """Writes the batch for real, then reports a lost connection: the writer cannot know it worked."""

    def __init__(self, repo: Repository, failures: int = 2) -> None:
        self.repo, self.failures, self.calls = repo, failures, 0

    def insert_records(self, batch: Sequence[NewRecord]) -> int:
        self.calls += 1
        new = self.repo.insert_records(batch)
        if self.failures:
            self.failures -= 1
            raise _down()
        return new


class Gate:
    """Blocks every insert until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.written: list[str] = []

    def insert_records(self, batch: Sequence[NewRecord]) -> int:
        self.open.wait()
        self.written.extend(r.id for r in batch)
        return len(batch)


class RejectsOne:
    """Rejects any batch containing one bad record, as a constraint violation would."""

    def __init__(self, bad_id: str) -> None:
        self.bad_id = bad_id
        self.written: list[str] = []

    def insert_records(self, batch: Sequence[NewRecord]) -> int:
        if any(r.id == self.bad_id for r in batch):
            raise IntegrityError("INSERT", {}, Exception("value too long"))
        self.written.extend(r.id for r in batch)
        return len(batch)


class AlwaysDown:
    def insert_records(self, batch: Sequence[NewRecord]) -> int:
        raise _down()


def test_retry_after_ambiguous_failure_does_not_duplicate(store: Store) -> None:
    flaky = CommitsThenFails(store.repo)
    writer = BatchWriter(flaky, batch_size=100, flush_interval=0.01)  # type: ignore[arg-type]
    records = [NewRecord(prompt=f"p{i}", response="r", tags=["a"]) for i in range(100)]
    for record in records:
        writer.put(record)
    writer.close()
    stats = writer.stats()
    assert flaky.calls == 3
    assert store.repo.count() == 100
    assert stats.written == 0 and stats.duplicates == 100  # the first, "failed", attempt stored them
    assert "server closed the connection" in (stats.last_error or "")


def test_full_queue_raises_store_busy_then_recovers() -> None:
    gate = Gate()
    writer = BatchWriter(gate, batch_size=5, max_queue=10, flush_interval=0.01)  # type: ignore[arg-type]
    for i in range(5):
        writer.put(NewRecord(prompt=f"first {i}"))
    deadline = time.monotonic() + 5
    while writer.stats().queued and time.monotonic() < deadline:  # the writer holds that batch
        time.sleep(0.005)
    for i in range(10):
        writer.put(NewRecord(prompt=f"queued {i}"))
    with pytest.raises(StoreBusyError, match="queue is full"):
        writer.put(NewRecord(prompt="one too many"))
    started = time.monotonic()
    with pytest.raises(StoreBusyError):
        writer.put(NewRecord(prompt="waits then fails"), timeout=0.1)
    assert time.monotonic() - started >= 0.1
    threading.Timer(0.05, gate.open.set).start()
    writer.put(NewRecord(prompt="waits then fits"), timeout=5)
    writer.close()
    assert len(gate.written) == 16


def test_a_rejected_record_does_not_block_the_others() -> None:
    records = [NewRecord(prompt=f"p{i}") for i in range(9)]
    repo = RejectsOne(records[4].id)
    writer = BatchWriter(repo, batch_size=9, flush_interval=0.01)  # type: ignore[arg-type]
    for record in records:
        writer.put(record)
    writer.close()
    assert sorted(repo.written) == sorted(r.id for i, r in enumerate(records) if i != 4)
    assert writer.stats().failed == 1


def test_close_gives_up_on_a_dead_database_and_says_so() -> None:
    writer = BatchWriter(AlwaysDown(), batch_size=2, flush_interval=0.01, max_backoff=0.05)  # type: ignore[arg-type]
    for i in range(5):
        writer.put(NewRecord(prompt=f"p{i}"))
    assert writer.flush(timeout=0.2) is False
    with pytest.raises(StoreError, match="5 monitoring records could not be written"):
        writer.close(timeout=0.2)
    assert writer.stats().lost == 5


def test_closed_writer_refuses_records() -> None:
    writer = BatchWriter(Gate())  # type: ignore[arg-type]
    writer.close()
    with pytest.raises(StoreClosedError):
        writer.put(NewRecord(prompt="late"))


def test_flush_interval_bounds_the_wait(store: Store) -> None:
    writer = BatchWriter(store.repo, batch_size=1000, flush_interval=0.05)
    writer.put(NewRecord(prompt="alone"))
    deadline = time.monotonic() + 5
    while store.repo.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.repo.count() == 1
    writer.close()


def test_writer_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        BatchWriter(Gate(), batch_size=100, max_queue=10)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="flush_interval"):
        BatchWriter(Gate(), flush_interval=0)  # type: ignore[arg-type]


def test_no_thread_until_first_record() -> None:
    before = threading.active_count()
    writer = BatchWriter(Gate())  # type: ignore[arg-type]
    assert threading.active_count() == before
    writer.close()
