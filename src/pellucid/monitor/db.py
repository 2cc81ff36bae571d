"""The monitoring schema as SQLAlchemy 2.0 typed models, portable across SQLite and PostgreSQL.

Tables:

- ``records``: one row per model call. Its primary key is a client-generated UUID (see
  :func:`pellucid.monitor.records.new_id`), so replicas never coordinate and a retried insert is
  recognised and ignored.
- ``record_tags``: ``(record_id, tag)``. Tags live in their own indexed table rather than in a
  JSON list so that "records tagged X" is a plain index lookup on every database.
- ``feedback``: thumbs up/down, scores and comments added later by people.
- ``metrics``: enrichments as ``(record_id, name, value)`` rows — perplexity, mean token entropy,
  toxicity, custom metrics. A key/value table means a new metric needs no migration, and "a
  metric over time by model version" is one join with ``records`` on an index over
  ``(name, record_id)``.
- ``embeddings``: prompt and response vectors as little-endian float32 bytes (``dim`` floats),
  one row per ``(record_id, field, model)``. Bytes are compact and identical on both databases;
  :func:`pack_vector` / :func:`unpack_vector` convert.

Analytics tables (revision 0002):

- ``eval_runs`` / ``eval_examples``: one offline evaluation (``pellucid eval``) with its aggregate
  metrics as JSON, and one row per example with the per-example metric values as JSON.
- ``alert_rules`` / ``alert_events``: conditions checked on demand or on a schedule, and every
  time one fired (value, message, whether the webhook or command got it). Events keep the
  rule's name and survive the rule's deletion (``ON DELETE SET NULL``).
- ``drift_reports``: saved drift reports (the windows compared and the full report as JSON),
  for the web view.

Revision 0003: ``audit_reports``, every audit the server finished (the model, the checks and their
pass/fail/error counts, and the whole ``AuditReport`` as JSON), so reports and model cards outlive
a restart.

Every child row references ``records.id`` with ``ON DELETE CASCADE``: purging a record removes its
feedback, tags, metrics and embeddings with it (SQLite enforces this because the store turns
``PRAGMA foreign_keys`` on).

Times are stored in UTC through :class:`UTCDateTime`: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL;
on SQLite an ISO-like text in UTC, so text order is time order. Values always come back
timezone-aware.

The schema is created by the Alembic migrations in ``migrations/versions``, never by
``create_all``; a test checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pellucid.monitor.records import as_utc, utcnow

#: Constraint names are deterministic, so later migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON on SQLite, JSONB on PostgreSQL; Python ``None`` is stored as SQL NULL.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: Client-generated UUIDs: native ``uuid`` on PostgreSQL, 32 hex characters on SQLite.
IdType = Uuid(as_uuid=False)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (naive input is taken as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Record(Base):
    """One logged model call."""

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model: Mapped[str | None] = mapped_column(String(200), index=True)
    model_version: Mapped[str | None] = mapped_column(String(200))
    template_version: Mapped[str | None] = mapped_column(String(200))
    #: The prompt as sent: a JSON string or a JSON list of chat messages.
    prompt: Mapped[Any] = mapped_column(JSONType)
    #: The prompt's text (message contents joined), for search, quality checks and embeddings.
    prompt_text: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the exact prompt: duplicates, and grouping answers to one prompt for preferences.
    prompt_hash: Mapped[str] = mapped_column(String(64), index=True)
    response: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any] | None]
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    session_id: Mapped[str | None] = mapped_column(String(200), index=True)
    #: OpenTelemetry ids of a call that arrived as a span (hex; see pellucid.serve.otlp)
    trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    span_id: Mapped[str | None] = mapped_column(String(16), index=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16), index=True)
    #: ``metadata`` is reserved by SQLAlchemy's declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    cache_hit: Mapped[bool | None] = mapped_column(Boolean)
    cache_key: Mapped[str | None] = mapped_column(String(128), index=True)
    redaction: Mapped[dict[str, Any] | None]
    #: Data-quality flags: name -> short explanation (absent name: flag not raised).
    flags: Mapped[dict[str, Any] | None]
    language: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_records_model_version_created_at", "model_version", "created_at"),)


class RecordTag(Base):
    """A tag on a record."""

    __tablename__ = "record_tags"

    record_id: Mapped[str] = mapped_column(IdType, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class Feedback(Base):
    """Human feedback on a record: ``thumbs_up`` (value 1), ``thumbs_down`` (-1), ``score``, ``comment``."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    record_id: Mapped[str] = mapped_column(IdType, ForeignKey("records.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (CheckConstraint("kind IN ('thumbs_up', 'thumbs_down', 'score', 'comment')", name="kind"),)


class Metric(Base):
    """A number computed for a record after the fact (perplexity, entropy, toxicity, custom)."""

    __tablename__ = "metrics"

    record_id: Mapped[str] = mapped_column(IdType, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_metrics_name_record_id", "name", "record_id"),)


class Embedding(Base):
    """A vector for a record's ``prompt`` or ``response``, from one encoder ``model``."""

    __tablename__ = "embeddings"

    record_id: Mapped[str] = mapped_column(IdType, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(20), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (CheckConstraint("field IN ('prompt', 'response')", name="field"),)


class RecordFeature(Base):
    """One dictionary feature active in a record's response: ``(record, dictionary, latent) -> activation``.

    Enrichment keeps each response's strongest latents (the highest activation over its tokens);
    ``dictionary`` names the dictionary folder they come from, so several can coexist.
    """

    __tablename__ = "record_features"

    record_id: Mapped[str] = mapped_column(IdType, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    dictionary: Mapped[str] = mapped_column(String(200), primary_key=True)
    latent: Mapped[int] = mapped_column(Integer, primary_key=True)
    activation: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_record_features_dictionary_latent", "dictionary", "latent"),)


class EvalRun(Base):
    """One evaluation run: a data set scored with a list of metrics, aggregates in ``results``."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(200))
    prompt_version: Mapped[str | None] = mapped_column(String(200))
    dataset_path: Mapped[str | None] = mapped_column(Text)
    #: Metric names as computed (groups such as ``rouge`` expanded).
    metrics: Mapped[Any] = mapped_column(JSONType)
    #: ``{metric: {"aggregate": x, "aggregation": "...", "higher_is_better": b, "details": {...}}}``.
    results: Mapped[dict[str, Any] | None]
    n_examples: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any] | None]


class EvalExample(Base):
    """One example of an evaluation run and its metric values (``{"bleu": 41.2, ...}``)."""

    __tablename__ = "eval_examples"

    run_id: Mapped[str] = mapped_column(IdType, ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Where the example came from in the data set (1-based line number).
    line: Mapped[int | None] = mapped_column(Integer)
    prompt: Mapped[Any] = mapped_column(JSONType)
    reference: Mapped[Any] = mapped_column(JSONType)
    prediction: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, Any] | None]


class AlertRule(Base):
    """A condition over recent traffic and what to do when it holds (see :mod:`pellucid.monitor.alerts`)."""

    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: The condition as written, e.g. ``mean(latency_ms) > 500 over 1h``.
    condition: Mapped[str] = mapped_column(Text)
    #: The parsed parts, kept as columns for listing: ``mean(latency_ms)``, ``>``, ``500``, 3600.
    metric: Mapped[str] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    window_seconds: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Seconds before a rule that keeps holding notifies again (``None``: once per episode).
    repeat_seconds: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="ok")
    last_value: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[datetime | None]
    last_fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("action IN ('webhook', 'command', 'none')", name="action"),
        CheckConstraint("state IN ('ok', 'firing')", name="state"),
    )


class AlertEvent(Base):
    """One firing of a rule: the value that triggered it and whether the notification got through."""

    __tablename__ = "alert_events"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    rule_id: Mapped[str | None] = mapped_column(IdType, ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True)
    rule_name: Mapped[str] = mapped_column(String(200))
    fired_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    #: ``delivered``, ``failed`` or ``no_action``; ``delivery_detail`` says what happened.
    delivery_status: Mapped[str] = mapped_column(String(20))
    delivery_detail: Mapped[str | None] = mapped_column(Text)


class DriftReportRow(Base):
    """A saved drift report: the two windows compared and the report's JSON."""

    __tablename__ = "drift_reports"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(Text)
    current: Mapped[str] = mapped_column(Text)
    drifted: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[str] = mapped_column(Text)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)


class AuditReportRow(Base):
    """A finished audit: what was checked on which model, the counts, and ``AuditReport.to_dict()``."""

    __tablename__ = "audit_reports"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    model: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(200))
    checks: Mapped[list[str]] = mapped_column(JSONType)
    summary: Mapped[dict[str, int]] = mapped_column(JSONType)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)


def pack_vector(vector: Any) -> bytes:
    """A 1-D vector as little-endian float32 bytes (what ``embeddings.vector`` stores)."""
    array = np.asarray(vector, dtype="<f4")
    if array.ndim != 1:
        from pellucid.errors import InvalidInputError

        raise InvalidInputError(f"An embedding must be one vector (1-D), got shape {array.shape}.")
    return array.tobytes()


def unpack_vector(data: bytes) -> np.ndarray:
    """Inverse of :func:`pack_vector`: a float32 array."""
    return np.frombuffer(data, dtype="<f4")
