"""Durable mode: build a monitor whose acknowledged records survive a crash.

Default mode queues a record in memory and returns; the batched writer stores it within about
``flush_interval`` (0.25 s), so a killed process loses the records of that last window. Durable
mode closes the window: :func:`durable_monitor` first replays what a crashed run left in the
journal (exactly once: see :mod:`pellucid.monitor.journal_replay`), then returns a
:class:`~pellucid.monitor.sdk.Monitor` whose ``log`` returns only once the record is synced to
the journal (:mod:`pellucid.monitor.journal`), and whose writer reports each stored batch back
so the journal can delete its copies. The price is one group-committed ``fdatasync`` per call
(shared by concurrent calls): a few milliseconds of latency, no loss of throughput.

A record journaled and then refused by a full writer queue (:class:`StoreBusyError` from ``log``)
stays in the journal: the call did happen, and the next durable start stores it, once.

The journal lives next to the store it feeds — ``<file>.journal/`` beside a SQLite file, or
``<home>/journal/<key of the URL>/`` for a server database — so a journal is never replayed into
another store.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pellucid.monitor.journal import Journal
from pellucid.monitor.journal_replay import ReplayReport, replay
from pellucid.monitor.records import NewRecord
from pellucid.monitor.sdk import Monitor
from pellucid.monitor.store import Store
from pellucid.monitor.writer import BatchWriter, Preparer

log = logging.getLogger(__name__)


def journal_folder(home: Path, store: Store) -> Path:
    """Where the journal of ``store`` lives: beside a SQLite file, else in the home under a key of the URL."""
    url = store.engine.url
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
        path = Path(database)
        return path.with_name(path.name + ".journal")
    key = hashlib.sha256(store.url.encode()).hexdigest()[:16]  # the URL without its password
    return Path(home) / "journal" / key


def durable_monitor(
    store: Store,
    folder: Path,
    *,
    prepare: Callable[[NewRecord], NewRecord] | Literal["default"] | None = "default",
    on_written: Callable[[Sequence[NewRecord]], None] | None = None,
    commit_window: float = 0.0,
    owns_store: bool = False,
    **writer_options: Any,
) -> tuple[Monitor, ReplayReport]:
    """Replay ``folder`` into ``store``, then a monitor journaling every record there first.

    Args:
        store: the monitoring store.
        folder: the journal's folder (see :func:`journal_folder`).
        prepare: applied to each record before it is journaled (default: a :class:`Preparer`
            computing quality flags; pass one with a redactor to keep PII off the disk too;
            ``None`` journals and stores records as given).
        on_written: as for :class:`BatchWriter` (e.g. the OTLP exporter).
        commit_window: seconds a group commit waits for more records before syncing.
        owns_store: the monitor closes ``store`` when it closes.
        writer_options: ``batch_size``, ``flush_interval``, ``max_queue``... of the writer.

    Returns:
        The monitor, and the replay's report (records written, already stored, damage skipped).
    """
    report = replay(folder, store.repo)
    journal = Journal(folder, commit_window=commit_window)
    writer = BatchWriter(store.repo, prepare=None, on_written=on_written, on_settled=journal.settle, **writer_options)
    monitor = Monitor(
        store,
        writer=writer,
        owns_store=owns_store,
        journal=journal,
        prepare=Preparer() if prepare == "default" else prepare,
    )
    return monitor, report
