"""Logging model calls from an application: ``log``, ``trace``, and the :class:`Monitor` behind them.

For applications that serve the model themselves::

    from pellucid import monitor

    monitor.log(prompt, response, model="smollm2", user_id="u42", latency_ms=310, ticket=1234)

    with monitor.trace(messages, model="smollm2", model_version="2026-11") as t:
        for chunk in stream(messages):
            t.first_token()            # marks the time to first token (once)
            ...
        t.response = text
        t.set(prompt_tokens=41, completion_tokens=12)
    show_feedback_buttons(record_id=t.id)

Keywords that name a record field (``model``, ``model_version``, ``template_version``,
``latency_ms``, ``ttft_ms``, ``prompt_tokens``, ``completion_tokens``, ``params``, ``user_id``,
``session_id``, ``tags``, ``cache_hit``, ``cache_key``, ``error``, ``id``, ``created_at``...)
fill that field; any other keyword goes into the record's ``metadata``.

Both calls return immediately: records are queued and written in batches by a background
thread (see :mod:`pellucid.monitor.writer` for the guarantees). The module-level functions use a
default :class:`Monitor`, created on first use from ``Settings.from_env()`` (so from
``PELLUCID_DATABASE_URL``), or explicitly with :func:`configure`. It is closed — its queue
drained — at interpreter exit; nothing happens at import.

When the queue is full, ``log`` raises :class:`StoreBusyError` rather than blocking the caller;
pass ``timeout=`` to wait for room instead.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.quality import DEFAULT_QUALITY, QualityConfig
from pellucid.monitor.records import NewRecord, Prompt, check_prompt, new_id
from pellucid.monitor.repository import Repository
from pellucid.monitor.sql import check_id
from pellucid.monitor.store import Store
from pellucid.monitor.writer import BatchWriter, Preparer, Redactor, WriterStats
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.monitor.journal import Journal

_logger = logging.getLogger(__name__)

_FLOATS = ("latency_ms", "ttft_ms")
_INTS = ("prompt_tokens", "completion_tokens")
#: String fields and their longest allowed value (the column sizes; PostgreSQL enforces them).
_STRINGS = {
    "model": 200,
    "model_version": 200,
    "template_version": 200,
    "user_id": 200,
    "session_id": 200,
    "trace_id": 32,
    "span_id": 16,
    "parent_span_id": 16,
    "cache_key": 128,
    "language": 32,
    "error": 100_000,
}


def make_record(prompt: Any, response: str | None = None, **fields: Any) -> NewRecord:
    """Validate one call's data and build its :class:`NewRecord` (unknown keywords -> metadata)."""
    known = {k: v for k, v in fields.items() if k in NewRecord.FIELDS and v is not None}
    extra = {k: v for k, v in fields.items() if k not in NewRecord.FIELDS}
    if response is not None and not isinstance(response, str):
        raise InvalidInputError(f"response must be a string or None, got {type(response).__name__}.")
    for name in _FLOATS:
        if name in known:
            value = known[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative number of milliseconds, got {value!r}.")
            known[name] = float(value)
    for name in _INTS:
        if name in known:
            value = known[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}.")
    tags = known.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple, set, frozenset)) or not all(
        isinstance(t, str) and 0 < len(t) <= 200 for t in tags
    ):
        raise InvalidInputError(f"tags must be a list of 1-200 character strings, got {tags!r}.")
    known["tags"] = list(tags)
    for name in ("params", "metadata", "flags", "redaction"):
        if name in known and not isinstance(known[name], dict):
            raise InvalidInputError(f"{name} must be a dict, got {type(known[name]).__name__}.")
    if "cache_hit" in known and not isinstance(known["cache_hit"], bool):
        raise InvalidInputError(f"cache_hit must be True or False, got {known['cache_hit']!r}.")
    if extra:
        known["metadata"] = {**known.get("metadata", {}), **extra}
    if "id" in known:
        known["id"] = check_id(known["id"])
    if "created_at" in known and not isinstance(known["created_at"], datetime):
        raise InvalidInputError(f"created_at must be a datetime, got {known['created_at']!r}.")
    for name, longest in _STRINGS.items():
        if name in known and (not isinstance(known[name], str) or len(known[name]) > longest):
            raise InvalidInputError(
                f"{name} must be a string of at most {longest} characters, got {known[name]!r:.80}."
            )
    return NewRecord(prompt=check_prompt(prompt), response=response, **known)


class Trace:
    """Times one model call and logs it when the ``with`` block ends.

    Set ``response`` (and any field with :meth:`set`) inside the block; call
    :meth:`first_token` when the first token arrives to record ``ttft_ms``. ``id`` is known from
    the start, so the application can attach feedback to the record later. If the block raises,
    the record is logged with ``error`` set and the exception propagates unchanged.
    """

    def __init__(self, monitor: Monitor, prompt: Prompt, fields: dict[str, Any]) -> None:
        self.monitor = monitor
        self.prompt = check_prompt(prompt)
        self.response: str | None = None
        self.fields = fields
        self.id: str = check_id(fields.pop("id")) if fields.get("id") else new_id()
        self._start = 0.0

    def set(self, **fields: Any) -> None:
        """Add or replace fields of the record (same keywords as ``log``, ``response`` included)."""
        if "response" in fields:
            self.response = fields.pop("response")
        self.fields.update(fields)

    def first_token(self) -> None:
        """Mark now as the arrival of the first token (later calls are ignored)."""
        if "ttft_ms" not in self.fields:
            self.fields["ttft_ms"] = (time.perf_counter() - self._start) * 1000

    def __enter__(self) -> Trace:
        self._start = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.fields.setdefault("latency_ms", (time.perf_counter() - self._start) * 1000)
        if error is not None:
            self.fields.setdefault("error", f"{type(error).__name__}: {error}"[:2000])
        try:
            self.monitor.log(self.prompt, self.response, id=self.id, **self.fields)
        except Exception:
            if error is None:
                raise  # the call worked but logging failed: the caller should know
            # the call itself failed: its exception matters more than the lost record

    async def __aenter__(self) -> Trace:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, error, tb)


class Monitor:
    """A store plus a batch writer plus default fields for every record.

    Build one with :meth:`open` (it then owns and closes its store) or from an open
    :class:`Store` (which stays the caller's to close). ``defaults`` (``model=``,
    ``model_version=``, ``tags=``...) are applied to every record that does not set them.

    Durable mode (see :mod:`pellucid.monitor.durable`, which builds such a monitor): with a
    ``journal``, ``log`` prepares the record here (``prepare``: redaction and quality flags, so
    the journal never holds text the store would not), appends it to the journal — returning only
    once it is on disk — and then hands it to the writer, whose own ``prepare`` must be ``None``.
    """

    def __init__(
        self,
        store: Store,
        *,
        writer: BatchWriter | None = None,
        owns_store: bool = False,
        journal: Journal | None = None,
        prepare: Callable[[NewRecord], NewRecord] | None = None,
        **defaults: Any,
    ) -> None:
        self.store = store
        self.writer = writer or BatchWriter(store.repo)
        self.journal = journal
        self.prepare = prepare
        self.defaults = defaults
        self._owns_store = owns_store
        self._closed = False
        self._prepare_lock = threading.Lock()  # the Preparer's duplicate tracker is not thread-safe

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        max_queue: int = 20_000,
        redactor: Redactor | None = None,
        quality: QualityConfig | None = DEFAULT_QUALITY,
        durable: bool = False,
        **defaults: Any,
    ) -> Monitor:
        """Open the store at ``url`` (default: from ``settings``) and start a writer for it.

        ``durable=True``: replay the journal a crashed run left beside the store, then journal every
        record to disk before ``log`` returns (see :mod:`pellucid.monitor.durable`).
        """
        store = Store.open(url, settings=settings)
        prepare = Preparer(redactor=redactor, quality=quality) if (redactor or quality) else None
        if durable:
            from pellucid.monitor.durable import durable_monitor, journal_folder

            home = (settings or Settings.from_env()).home
            try:
                monitor, _ = durable_monitor(
                    store,
                    journal_folder(home, store),
                    prepare=prepare,
                    batch_size=batch_size,
                    flush_interval=flush_interval,
                    max_queue=max_queue,
                    owns_store=True,
                )
            except BaseException:
                store.close()
                raise
            monitor.defaults = defaults
            return monitor
        writer = BatchWriter(
            store.repo, batch_size=batch_size, flush_interval=flush_interval, max_queue=max_queue, prepare=prepare
        )
        return cls(store, writer=writer, owns_store=True, **defaults)

    @property
    def repo(self) -> Repository:
        return self.store.repo

    def log(self, prompt: Prompt, response: str | None = None, *, timeout: float | None = None, **fields: Any) -> str:
        """Queue one call for storage and return its record id (see the module docstring)."""
        merged = {**self.defaults, **fields}
        if "tags" in self.defaults and "tags" in fields:
            merged["tags"] = [*self.defaults["tags"], *fields["tags"]]
        record = make_record(prompt, response, **merged)
        self.submit([record], timeout=timeout)
        return record.id

    def submit(self, records: Sequence[NewRecord], *, timeout: float | None = None) -> None:
        """Queue records built already (e.g. by :func:`make_record`), as ``log`` does with one.

        In durable mode they are prepared and journaled together (one sync) before this returns.
        """
        if self.journal is not None:
            records = self._journaled(records, self.journal)
        for record in records:
            self.writer.put(record, timeout=timeout)

    def _journaled(self, records: Sequence[NewRecord], journal: Journal) -> list[NewRecord]:
        """Durable mode: the prepared records, on disk in the journal before this returns.

        If the journal cannot write (full or failing disk), the records still go to the writer,
        as in default mode: the failure is logged and counted in ``journal.stats().failed``.
        """
        from pellucid.monitor.journal import JournalError

        prepared = list(records)
        if self.prepare is not None:
            with self._prepare_lock:
                prepared = [self._prepared(record, self.prepare) for record in prepared]
        try:
            journal.append_many(prepared)
        except JournalError as exc:
            _logger.error("%s Stored without the durability guarantee.", exc)
        return prepared

    @staticmethod
    def _prepared(record: NewRecord, prepare: Callable[[NewRecord], NewRecord]) -> NewRecord:
        """``prepare(record)``; a failing preparer flags the record instead of losing it (as the writer does)."""
        try:
            return prepare(record)
        except Exception as error:
            _logger.error("Monitoring record %s could not be prepared: %r; stored without it", record.id, error)
            record.flags = {**record.flags, "prepare_failed": repr(error)[:200]}
            return record

    def trace(self, prompt: Prompt, **fields: Any) -> Trace:
        """A context manager that times a call and logs it on exit (see :class:`Trace`)."""
        return Trace(self, prompt, fields)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record logged so far is written (False if ``timeout`` passed first)."""
        return self.writer.flush(timeout)

    def stats(self) -> WriterStats:
        return self.writer.stats()

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything queued, stop the writer, and close the store if this monitor opened it."""
        if self._closed:
            return
        self._closed = True
        try:
            self.writer.close(timeout)
        finally:
            try:
                if self.journal is not None:  # after the writer: it settles what it stored
                    self.journal.close()
            finally:
                if self._owns_store:
                    self.store.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the default monitor behind the module-level functions ---------------------------------
_default: Monitor | None = None
_default_lock = threading.Lock()
_atexit_registered = False


def _install(monitor: Monitor) -> Monitor:
    """Make ``monitor`` the default (caller holds the lock) and close the one it replaces."""
    global _default, _atexit_registered
    previous, _default = _default, monitor
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    if previous is not None:
        previous.close()
    return monitor


def configure(url: str | None = None, *, settings: Settings | None = None, **options: Any) -> Monitor:
    """Replace the default monitor (closing the previous one); options as for :meth:`Monitor.open`."""
    with _default_lock:
        return _install(Monitor.open(url, settings=settings, **options))


def get_monitor() -> Monitor:
    """The default monitor, created from ``Settings.from_env()`` on first use (durable with ``PELLUCID_DURABLE=1``)."""
    monitor = _default
    if monitor is None:
        with _default_lock:
            if _default is not None:
                monitor = _default
            else:
                settings = Settings.from_env()
                monitor = _install(Monitor.open(settings=settings, durable=settings.durable))
    return monitor


def log(prompt: Prompt, response: str | None = None, **fields: Any) -> str:
    """Log one call through the default monitor; returns the record id."""
    return get_monitor().log(prompt, response, **fields)


def trace(prompt: Prompt, **fields: Any) -> Trace:
    """Time and log one call through the default monitor (a context manager)."""
    return get_monitor().trace(prompt, **fields)


def flush(timeout: float | None = None) -> bool:
    """Write everything logged so far through the default monitor (no-op if none)."""
    return _default.flush(timeout) if _default is not None else True


def shutdown(timeout: float | None = 30.0) -> None:
    """Close the default monitor, writing everything queued. Runs at interpreter exit."""
    global _default
    with _default_lock:
        monitor, _default = _default, None
    if monitor is not None:
        monitor.close(timeout)
