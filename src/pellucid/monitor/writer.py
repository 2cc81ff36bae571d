"""The batched, non-blocking writer between a serving path and the store.

Callers hand records to :meth:`BatchWriter.put`, which only appends to an in-memory queue and
returns. One background thread takes up to ``batch_size`` records at a time — as soon as that
many are waiting, or when the oldest has waited ``flush_interval`` seconds — prepares them
(redaction, data-quality flags) and inserts each batch in one transaction.

Guarantees, and their limits:

- **Back-pressure, not unbounded memory.** The queue holds at most ``max_queue`` records. When
  it is full, ``put`` raises :class:`StoreBusyError` at once (or, with ``timeout=``, after
  waiting that long for room), so a server can answer ``429`` instead of growing until it dies.
- **No duplicates.** Records carry their id from the start and the repository ignores ids it
  already has, so a batch retried after an ambiguous failure is stored once.
- **Nothing lost on a clean shutdown.** ``close()`` stops accepting, writes everything queued,
  and only then returns. While the database is unreachable the writer keeps the batch and
  retries with exponential backoff (the queue then fills and back-pressure starts).
- **What a crash loses.** Records live only in memory until their batch commits: a killed
  process loses what was queued — at most ``max_queue`` records, normally less than one
  ``flush_interval`` of traffic. ``close(timeout)`` that cannot reach the database before its
  deadline drops the rest and says how many in the :class:`StoreError` it raises.
- A record the database rejects (not a connection problem) is isolated by splitting its batch,
  logged, counted in ``stats().failed``, and does not block the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import exc as sa_exc

from pellucid.errors import InvalidInputError
from pellucid.monitor.batch_queue import BatchQueue
from pellucid.monitor.errors import StoreBusyError, StoreClosedError, StoreError
from pellucid.monitor.quality import DEFAULT_QUALITY, DuplicateTracker, QualityConfig, quality_flags
from pellucid.monitor.records import NewRecord, prompt_hash
from pellucid.monitor.repository import Repository

log = logging.getLogger(__name__)

#: A redactor takes text and returns the redacted text and what it changed (e.g. ``{"EMAIL": 2}``).
Redactor = Callable[[str], tuple[str, dict[str, Any]]]


def _is_transient(error: BaseException) -> bool:
    """Connection-level trouble worth retrying (server down, database locked, pool exhausted)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError))


def describe_error(error: BaseException) -> str:
    """A one-line description of a database error, without the SQL statement or its parameters.

    SQLAlchemy's own message appends ``[SQL: ...] [parameters: ...]``, i.e. the prompts being
    written: that must never reach the server's log. The driver's message is kept, plus a hint
    for the errors a full disk or a read-only file produce.
    """
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split())[:300] or type(orig).__name__
    lowered = text.lower()
    if "disk i/o error" in lowered or "disk is full" in lowered or "no space left" in lowered:
        text += " (is the disk full, or the database file's size limited?)"
    elif "readonly" in lowered or "read-only" in lowered:
        text += " (is the database file or its folder read-only?)"
    return f"{type(orig).__name__}: {text}"


class Preparer:
    """Turns a record as logged into a record as stored: redaction first, then quality flags.

    Flags are computed on the redacted text, so stored flags never depend on PII that is not
    stored. Flags the caller set on the record win over computed ones with the same name.
    """

    def __init__(
        self,
        *,
        redactor: Redactor | None = None,
        quality: QualityConfig | None = DEFAULT_QUALITY,
        duplicate_capacity: int = 100_000,
    ) -> None:
        self.redactor = redactor
        self.quality = quality
        self.duplicates = DuplicateTracker(duplicate_capacity) if quality is not None else None

    def _redact(self, record: NewRecord, redactor: Redactor) -> NewRecord:
        info: dict[str, Any] = {"applied": True}
        prompt = record.prompt
        if isinstance(prompt, str):
            prompt, info["prompt"] = redactor(prompt)
        else:
            found: dict[str, Any] = {}
            messages = []
            for message in prompt:
                if isinstance(message.get("content"), str):
                    text, changed = redactor(message["content"])
                    message = {**message, "content": text}
                    for key, value in changed.items():
                        found[key] = found.get(key, 0) + value if isinstance(value, int) else value
                messages.append(message)
            prompt, info["prompt"] = messages, found
        response = record.response
        if response is not None:
            response, info["response"] = redactor(response)
        return replace(record, prompt=prompt, response=response, redaction=info)

    def __call__(self, record: NewRecord) -> NewRecord:
        """The record to store. Never raises: a failing redactor or check is recorded instead.

        If redaction fails the texts are *not* stored (the prompt becomes a placeholder and the
        response is dropped), since storing them unredacted is what the setting forbids.
        """
        if self.redactor is not None:
            try:
                record = self._redact(record, self.redactor)
            except Exception as error:
                log.error("Redaction failed for monitoring record %s: %r; its texts are not stored", record.id, error)
                reason = f"{type(error).__name__}: {error}"[:300]
                record = replace(
                    record,
                    prompt="[not stored: redaction failed]",
                    response=None,
                    redaction={"applied": False, "error": reason},
                    flags={**record.flags, "redaction_failed": reason},
                )
        if self.quality is not None and self.duplicates is not None:
            try:
                self._check_quality(record, self.quality, self.duplicates)
            except Exception as error:  # a bug in a heuristic must not lose the record
                log.error("Quality checks failed for monitoring record %s: %r", record.id, error)
                record.flags = {**record.flags, "quality_check_failed": repr(error)[:300]}
        return record

    @staticmethod
    def _check_quality(record: NewRecord, config: QualityConfig, duplicates: DuplicateTracker) -> None:
        record.prompt_hash = prompt_hash(record.prompt)
        flags, language = quality_flags(
            record.prompt_text,
            record.response,
            prompt_tokens=record.prompt_tokens,
            duplicates_before=duplicates.check(record.prompt_hash),
            config=config,
        )
        record.flags = {**flags, **record.flags}
        record.language = record.language or language


@dataclass(frozen=True)
class WriterStats:
    """Counters since the writer started (``queued``: waiting right now)."""

    accepted: int
    written: int
    duplicates: int
    failed: int
    lost: int
    batches: int
    queued: int
    last_error: str | None


class BatchWriter(BatchQueue[NewRecord]):
    """Queue records from any thread; one background thread writes them in batches.

    The queue, its batching and ``flush`` are :class:`~pellucid.monitor.batch_queue.BatchQueue`'s.

    Args:
        repo: where records go.
        batch_size: most records per insert transaction.
        flush_interval: longest a record waits for its batch to fill, in seconds.
        max_queue: records held in memory before ``put`` refuses more (:class:`StoreBusyError`).
        prepare: applied to each record in the writer thread before storage (default: a
            :class:`Preparer` computing data-quality flags); ``None`` stores records as given.
        max_backoff: longest pause between retries while the database is unreachable, seconds.
        on_written: called in the writer thread with each batch (as prepared) once the writer is
            done with it, e.g. to export it as OpenTelemetry spans; records the database refused
            are included. It must not block; its errors are logged.
        on_settled: called in the writer thread with the records of each batch the store now has
            (written, or already there) or refused for good — not those dropped when ``close``
            gave up. Durable mode's journal deletes its copies through it. Its errors are logged.
    """

    def __init__(
        self,
        repo: Repository,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        max_queue: int = 20_000,
        prepare: Callable[[NewRecord], NewRecord] | Literal["default"] | None = "default",
        max_backoff: float = 5.0,
        on_written: Callable[[Sequence[NewRecord]], None] | None = None,
        on_settled: Callable[[Sequence[NewRecord]], None] | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < batch_size:
            raise InvalidInputError(
                f"Need 1 <= batch_size <= max_queue, got batch_size={batch_size}, max_queue={max_queue}."
            )
        if flush_interval <= 0:
            raise InvalidInputError(f"flush_interval must be positive seconds, got {flush_interval}.")
        super().__init__(batch_size, flush_interval)
        self.repo = repo
        self.max_queue = max_queue
        self.max_backoff = max_backoff
        self.prepare = Preparer() if isinstance(prepare, str) else prepare
        self.on_written = on_written
        self.on_settled = on_settled
        self._space = threading.Condition(self._lock)  # blocked puts wait here for room
        self._counts = {"written": 0, "duplicates": 0, "failed": 0, "lost": 0, "batches": 0}
        self._last_error: str | None = None
        self._give_up = False
        self._crashed: BaseException | None = None
        self._stop = threading.Event()  # interrupts backoff sleeps when close() gives up
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------------
    def put(self, record: NewRecord, timeout: float | None = None) -> None:
        """Queue ``record``. Never blocks unless ``timeout`` is given.

        Raises:
            StoreBusyError: the queue is full (after waiting ``timeout`` seconds, if given).
            StoreClosedError: ``close()`` was called.
        """
        with self._lock:
            self._check_open()
            if len(self._pending) >= self.max_queue:
                if timeout is not None and timeout > 0:
                    deadline = time.monotonic() + timeout
                    while len(self._pending) >= self.max_queue and not self._closing:
                        if not self._space.wait(max(0.0, deadline - time.monotonic())):
                            break
                    self._check_open()
                if len(self._pending) >= self.max_queue:
                    raise StoreBusyError(
                        f"The monitoring writer's queue is full ({self.max_queue} records waiting for the database). "
                        "Retry later, raise max_queue, or check the database's speed"
                        + (f" (last error: {self._last_error})." if self._last_error else ".")
                    )
            self._enqueue(record)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pellucid-monitor-writer", daemon=True)
                self._thread.start()
            if len(self._pending) == 1 or len(self._pending) >= self.batch_size:
                self._work.notify()

    def _check_open(self) -> None:
        if self._crashed is not None:
            raise StoreError(f"The monitoring writer stopped after an internal error: {self._crashed!r}.")
        if self._closing:
            raise StoreClosedError("The monitoring writer is closed; create a new one to log more records.")

    def _working(self) -> bool:
        return self._crashed is None

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop accepting records, write all queued ones, stop the thread. Safe to call twice.

        Raises:
            StoreError: some records could not be written before ``timeout`` seconds passed
                (the database stayed unreachable); the message says how many were dropped.
        """
        with self._lock:
            self._closing = True
            self._work.notify()
            self._space.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                with self._lock:
                    self._give_up = True
                self._stop.set()
                thread.join(10.0)  # it only has to notice; a call stuck in the driver is left behind
        with self._lock:
            lost = self._counts["lost"] + (len(self._pending) if thread is not None and thread.is_alive() else 0)
        if lost:
            raise StoreError(
                f"{lost} monitoring records could not be written before the writer closed: {self._last_error}."
            )

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(
                accepted=self._accepted, queued=len(self._pending), last_error=self._last_error, **self._counts
            )

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread -------------------------------------------------------------------
    def _taken(self) -> None:
        self._space.notify_all()

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                prepared = self._prepared(batch)
                lost = self._write(prepared)
                self._notify_written(prepared)
                self._notify_settled(prepared, lost)
                with self._lock:
                    self._counts["batches"] += 1
                    self._finished(len(batch))
        except BaseException as error:  # a bug: make it visible instead of hanging flush()
            log.exception("The monitoring writer stopped")
            with self._lock:
                self._crashed = error
                self._progress.notify_all()

    def _notify_written(self, batch: list[NewRecord]) -> None:
        if self.on_written is not None:
            try:
                self.on_written(batch)
            except Exception as error:  # an observer must not stop the writer
                log.error("The monitoring writer's on_written hook failed: %r", error)

    def _notify_settled(self, batch: list[NewRecord], lost: list[NewRecord]) -> None:
        if self.on_settled is not None:
            dropped = {id(r) for r in lost}
            try:
                self.on_settled([r for r in batch if id(r) not in dropped])
            except Exception as error:  # an observer must not stop the writer
                log.error("The monitoring writer's on_settled hook failed: %r", error)

    def _prepared(self, batch: list[NewRecord]) -> list[NewRecord]:
        if self.prepare is None:
            return batch
        out = []
        for record in batch:
            try:
                out.append(self.prepare(record))
            except Exception as error:  # a redactor or a check failed on this record only
                log.error("Monitoring record %s could not be prepared: %r; stored without it", record.id, error)
                record.flags = {**record.flags, "prepare_failed": repr(error)[:200]}
                out.append(record)
        return out

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self._counts[key] += delta

    def _write(self, batch: Sequence[NewRecord]) -> list[NewRecord]:
        """Store ``batch`` (retrying while the database is unreachable); the records dropped, if any."""
        delay = 0.05
        while True:
            if self._give_up:  # close() ran out of time: do not wait on the database again
                self._count(lost=len(batch))
                return list(batch)
            try:
                new = self.repo.insert_records(batch)
                self._count(written=new, duplicates=len(batch) - new)
                return []
            except Exception as error:
                self._last_error = describe_error(error)
                if not _is_transient(error):
                    if len(batch) == 1:
                        log.error("Monitoring record %s rejected by the database: %s", batch[0].id, self._last_error)
                        self._count(failed=1)
                        return []
                    half = len(batch) // 2
                    return self._write(batch[:half]) + self._write(batch[half:])
                log.warning("Monitoring store unavailable (%s); retrying in %.2fs", self._last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff)
