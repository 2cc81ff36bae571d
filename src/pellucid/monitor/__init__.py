"""Production monitoring: every model call logged into a real database, queryable later.

The layers, bottom up:

- :mod:`~pellucid.monitor.db` — the schema as SQLAlchemy models; :mod:`migrations` (Alembic)
  creates and upgrades it.
- :mod:`~pellucid.monitor.store` — ``Store.open(url)``: SQLite (WAL) by default, PostgreSQL by
  URL; checks the connection and applies migrations.
- :mod:`~pellucid.monitor.repository` — every query: insert, feedback, get, list with filters and
  pagination, metric series, purge, embeddings.
- :mod:`~pellucid.monitor.writer` — the batched background writer with back-pressure.
- :mod:`~pellucid.monitor.sdk` — ``log`` / ``trace`` for applications, and :class:`Monitor`.
- :mod:`~pellucid.monitor.quality` and :mod:`~pellucid.monitor.export` — per-record data-quality
  flags; feedback exported as preference pairs and supervised examples.
- Analytics, one repository per aggregate (:mod:`~pellucid.monitor.repository_base`):
  ``store.analytics`` (window aggregates), ``store.evals``, ``store.alerts``, ``store.reports``; evaluation runs
  (:mod:`.evaluation`, :mod:`.eval_data`), the enrichment queue (:mod:`.enrich`), drift between
  stored windows (:mod:`.drift_run`, :mod:`.windows`), alert rules (:mod:`.alerts`,
  :mod:`.alert_conditions`), the projector (:mod:`.projection`) and correlation with feedback
  (:mod:`.correlate`).

This package stores, queries, aggregates and tests plain arrays and records. Values that need
a model — embeddings, perplexity and entropy, hidden states, toxicity and PII flags, an
explanation of a record, generated predictions — are computed one layer up, in
:mod:`pellucid.service` (``enrichment``, ``drift``, ``records``, ``evaluation``), and handed
down as plain numbers.

Quick start::

    from pellucid import monitor

    monitor.configure("sqlite:///calls.db", model="smollm2-135m-instruct")   # optional
    record_id = monitor.log("What is 2+2?", "4", user_id="u1", latency_ms=120)
    monitor.flush()

    store = monitor.get_monitor().store
    store.repo.add_feedback(record_id, "thumbs_up")
    store.repo.list_records(monitor.RecordFilter(feedback="thumbs_up")).items

Nothing here imports torch, transformers, the models or any method package — not even inside a
function — and importing it has no side effects (``tests/unit/test_layers.py`` checks both).
"""

from __future__ import annotations

from pellucid.monitor.errors import (
    RecordNotFoundError,
    StoreBusyError,
    StoreClosedError,
    StoreConnectionError,
    StoreError,
)
from pellucid.monitor.export import (
    export_preferences,
    export_supervised,
    preference_pairs,
    supervised_examples,
)
from pellucid.monitor.quality import DuplicateTracker, QualityConfig, guess_language, quality_flags
from pellucid.monitor.records import (
    FeedbackEntry,
    NewRecord,
    Page,
    RecordFilter,
    SeriesPoint,
    StoredRecord,
    new_id,
)
from pellucid.monitor.repository import Repository
from pellucid.monitor.sdk import Monitor, Trace, configure, flush, get_monitor, log, make_record, shutdown, trace
from pellucid.monitor.store import Store, redact_url
from pellucid.monitor.writer import BatchWriter, Preparer, WriterStats

__all__ = [
    "BatchWriter",
    "DuplicateTracker",
    "FeedbackEntry",
    "Monitor",
    "NewRecord",
    "Page",
    "Preparer",
    "QualityConfig",
    "RecordFilter",
    "RecordNotFoundError",
    "Repository",
    "SeriesPoint",
    "Store",
    "StoreBusyError",
    "StoreClosedError",
    "StoreConnectionError",
    "StoreError",
    "StoredRecord",
    "Trace",
    "WriterStats",
    "configure",
    "export_preferences",
    "export_supervised",
    "flush",
    "get_monitor",
    "guess_language",
    "log",
    "make_record",
    "new_id",
    "preference_pairs",
    "quality_flags",
    "redact_url",
    "shutdown",
    "supervised_examples",
    "trace",
]
