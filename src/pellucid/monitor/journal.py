"""Durable mode's local journal: a record is on disk before its call is acknowledged.

The batched writer (:mod:`pellucid.monitor.writer`) keeps records in memory until their batch
commits, so a killed process loses the last fraction of a second of acknowledged calls. In
durable mode each record is first appended to this journal, and :meth:`Journal.append` returns
only once the record's frame is synced to disk (``fdatasync``); then the record goes to the
writer as usual. After a crash, :meth:`Journal.replay` writes what the journal holds into the
store. Records carry their id from the start and the store ignores ids it already has, so a
record replayed after it was in fact stored is stored once — replaying twice changes nothing.

**Group commit.** A sync costs milliseconds, whatever the amount of data. So appends are not
synced one by one: each append adds its frame to the open batch; one appender — the leader —
takes the whole batch, writes it with one ``write`` and syncs it with one ``fdatasync``, then
wakes everyone whose frame it carried. Appends that arrive during a sync form the next batch,
so under load each sync carries many records (``stats().syncs`` < ``stats().appended``). A
leader can also wait ``commit_window`` seconds before writing, for more appends to join
(PostgreSQL's ``commit_delay``); the default 0 relies on the sync time alone.

**Files.** The journal is a folder (``<home>/journal`` beside the SQLite store). Each process
run writes its own segments ``<run>.<n>.seg`` and holds an exclusive ``flock`` on ``<run>.lock``
for its lifetime; the kernel drops the lock when the process dies, even by SIGKILL. Replay
takes only runs whose lock it can get, so it never touches the journal of a server still
running on the same home. A segment is rotated at ``segment_bytes`` and deleted once every
record in it is *settled*: committed to the store (or refused by the database for good), as
the writer reports through ``on_settled``. A clean close deletes the run's files; records the
writer could not store before closing stay on disk for the next start.

**Damage.** A torn tail or a corrupt frame is skipped with a warning and counted in the
replay's report (see :mod:`pellucid.monitor.journal_format`); it never stops a start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pellucid.errors import InvalidInputError
from pellucid.monitor.errors import StoreClosedError, StoreError
from pellucid.monitor.journal_format import encode_record, frame
from pellucid.monitor.records import NewRecord

log = logging.getLogger(__name__)

#: How the journal makes written bytes durable; tests inject a counting one.
SyncFunction = Callable[[int], None]


def default_sync(fd: int) -> None:
    """``fdatasync`` where the platform has it (data and size, not timestamps), else ``fsync``."""
    getattr(os, "fdatasync", os.fsync)(fd)


class JournalError(StoreError):
    """A record could not be made durable (the journal's disk is full, read-only or failing)."""


@dataclass
class _Batch:
    """Frames waiting for one write and one sync, and the outcome the leader reports back."""

    frames: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None


@dataclass(frozen=True)
class JournalStats:
    """Counters since the journal opened (``pending``: appended, not settled yet)."""

    appended: int
    syncs: int
    settled: int
    pending: int
    failed: int
    segments: int
    last_error: str | None


class Journal:
    """An append-only, group-committed journal of records for one process run.

    Args:
        folder: where segments live (created if missing).
        commit_window: seconds a leader waits for more appends before syncing (0: none).
        segment_bytes: size past which the run moves on to a new segment file.
        sync: makes a file descriptor's written bytes durable (default: ``fdatasync``).
    """

    def __init__(
        self,
        folder: Path,
        *,
        commit_window: float = 0.0,
        segment_bytes: int = 4 * 1024 * 1024,
        sync: SyncFunction = default_sync,
    ) -> None:
        if not 0 <= commit_window <= 1:
            raise InvalidInputError(f"commit_window must be 0 to 1 seconds, got {commit_window}.")
        if segment_bytes < 4096:
            raise InvalidInputError(f"segment_bytes must be at least 4096, got {segment_bytes}.")
        self.folder = Path(folder)
        self.commit_window = commit_window
        self.segment_bytes = segment_bytes
        self._sync = sync
        self.folder.mkdir(parents=True, exist_ok=True)
        self.run = f"{time.time_ns():020d}-{os.getpid()}"
        self._lock_fd = try_lock(self.folder / f"{self.run}.lock")
        if self._lock_fd is None:  # a fresh name: only a clash of two processes could cause this
            raise JournalError(f"Cannot lock the journal run {self.run} in {self.folder}; restart to pick a new one.")
        self._cond = threading.Condition()
        self._open = _Batch()
        self._syncing = self._closed = False
        self._segment = 0
        self._fd: int | None = None
        self._size = 0
        self._pending: dict[str, list[int]] = {}  # record id -> segments holding an unsettled copy
        self._outstanding: dict[int, int] = {}  # segment -> unsettled records in it
        self._counts = {"appended": 0, "syncs": 0, "settled": 0, "failed": 0}
        self._last_error: str | None = None

    # -- appending -----------------------------------------------------------------------
    def append(self, record: NewRecord) -> None:
        """Write ``record`` and return once it is durable (shares a sync with concurrent appends).

        Raises:
            JournalError: the write or the sync failed (the message says why); the record is
                not in the journal.
            StoreClosedError: the journal was closed.
        """
        self.append_many([record])

    def append_many(self, records: Sequence[NewRecord]) -> None:
        """Write ``records`` and return once all are durable: they join one batch, one sync."""
        if not records:
            return
        frames = []
        for record in records:
            try:
                frames.append(frame(encode_record(record)))
            except ValueError as exc:  # larger than a frame holds
                raise JournalError(f"Record {record.id} cannot be journaled: {exc}.") from None
        with self._cond:
            if self._closed:
                raise StoreClosedError("The journal is closed; durable logging stopped with its monitor.")
            batch = self._open
            batch.frames.extend(frames)
            batch.ids.extend(record.id for record in records)
            while not batch.done:
                if self._syncing:
                    self._cond.wait()
                else:
                    self._lead()
        if batch.error is not None:
            which = f"Record {records[0].id}" if len(records) == 1 else f"{len(records)} records (from {records[0].id})"
            raise JournalError(f"{which} could not be made durable in {self.folder}: {batch.error}.")

    def _lead(self) -> None:
        """Write and sync the open batch (called with the condition held; released for the I/O)."""
        self._syncing = True
        if self.commit_window > 0:
            self._cond.wait(self.commit_window)  # others append to the open batch meanwhile
        batch, self._open = self._open, _Batch()
        data = b"".join(batch.frames)
        error = None
        try:
            if self._fd is None:
                self._fd = self._new_segment()
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None and self._fd is not None:
            fd, size = self._fd, self._size
            self._cond.release()
            try:
                error = self._write(fd, data, size)
            finally:
                self._cond.acquire()
        self._settle_batch(batch, len(data), error)

    def _settle_batch(self, batch: _Batch, size: int, error: str | None) -> None:
        """Book a written batch (or its failure) and wake its appenders."""
        if error is None:
            self._size += size
            self._counts["syncs"] += 1
            self._counts["appended"] += len(batch.ids)
            for record_id in batch.ids:
                self._pending.setdefault(record_id, []).append(self._segment)
            self._outstanding[self._segment] = self._outstanding.get(self._segment, 0) + len(batch.ids)
            if self._size >= self.segment_bytes:
                self._rotate()
        else:
            log.error("Durable journal write failed in %s: %s", self.folder, error)
            self._counts["failed"] += len(batch.ids)
            self._last_error = error
            self._rotate()  # a failed write may have left a partial frame: start a clean file
        batch.done, batch.error = True, error
        self._syncing = False
        self._cond.notify_all()

    def _write(self, fd: int, data: bytes, size: int) -> str | None:
        """One write and one sync of ``data`` at the end of ``fd`` (now ``size`` bytes); the error, or None."""
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            self._sync(fd)
            return None
        except Exception as exc:  # any failure must reach the appenders, never leave them waiting
            try:
                os.ftruncate(fd, size)  # cut a partial frame where possible
            except OSError:
                pass
            return f"{type(exc).__name__}: {exc}"

    def _new_segment(self) -> int:
        """Open the next segment file and make its name durable (a sync of the folder)."""
        self._segment += 1
        self._size = 0
        path = self._path(self._segment)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return fd

    def _rotate(self) -> None:
        """Close the current segment; it is deleted as soon as all its records are settled."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as exc:
                log.warning("Closing journal segment %s failed: %s", self._path(self._segment), exc)
        self._drop_if_settled(self._segment)

    def _path(self, segment: int) -> Path:
        return self.folder / f"{self.run}.{segment:06d}.seg"

    # -- settling ------------------------------------------------------------------------
    def settle(self, records: Iterable[NewRecord]) -> None:
        """The store has these records (or refused them for good): their segments may go.

        Meant as the writer's ``on_settled`` hook. Records never journaled are ignored.
        """
        with self._cond:
            for record in records:
                segments = self._pending.get(record.id)
                if not segments:
                    continue
                segment = segments.pop(0)
                if not segments:
                    del self._pending[record.id]
                self._outstanding[segment] -= 1
                self._counts["settled"] += 1
                if segment != self._segment or self._fd is None:
                    self._drop_if_settled(segment)

    def _drop_if_settled(self, segment: int) -> None:
        if segment and self._outstanding.get(segment, 0) == 0:
            self._outstanding.pop(segment, None)
            self._path(segment).unlink(missing_ok=True)

    # -- lifetime ------------------------------------------------------------------------
    def stats(self) -> JournalStats:
        with self._cond:
            return JournalStats(
                pending=sum(len(s) for s in self._pending.values()),
                segments=len(list(self.folder.glob(f"{self.run}.*.seg"))),
                last_error=self._last_error,
                **self._counts,
            )

    def close(self) -> None:
        """Stop appending; delete this run's files if everything was settled. Safe to call twice.

        Records still unsettled (the writer could not store them) stay in their segments and are
        replayed at the next start; a warning says how many.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._syncing or self._open.frames:  # appends already begun finish first
                if self._syncing:
                    self._cond.wait()
                else:
                    self._lead()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            unsettled = sum(len(s) for s in self._pending.values())
            if unsettled == 0:
                for path in self.folder.glob(f"{self.run}.*.seg"):
                    path.unlink(missing_ok=True)
                (self.folder / f"{self.run}.lock").unlink(missing_ok=True)
            else:
                log.warning(
                    "%d journaled records were not stored before shutdown; they stay in %s and are replayed "
                    "into the store at the next durable start.",
                    unsettled,
                    self.folder,
                )
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive ``flock``, or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
