"""Queries over enrichments: metrics, embeddings, and metrics aggregated over time.

Part of the repository (``Repository`` inherits these methods); split out only to keep each
file readable. Metric names and where their values come from are described in
:func:`pellucid.monitor.sql.metric_source`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.db import pack_vector
from pellucid.monitor.errors import RecordNotFoundError
from pellucid.monitor.records import RecordFilter, SeriesPoint, StoredRecord
from pellucid.monitor.sql import embeddings, metrics, records


class MetricQueries:
    """Metric and embedding queries over one engine (the base of ``Repository``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A connection in a write transaction (on SQLite: ``BEGIN IMMEDIATE``), committed on exit."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def add_metrics(self, values: Iterable[tuple[str, str, float | None]]) -> int:
        """Store ``(record_id, metric name, value)`` triples, replacing earlier values."""
        rows = []
        for rid, name, v in values:
            value = None if v is None else float(v)
            finite = value is not None and math.isfinite(value)
            rows.append({"record_id": sql.check_id(rid), "name": name, "value": value if finite else None})
        if not rows:
            return 0
        stmt = sql.insert_for(metrics, self.dialect)
        stmt = stmt.on_conflict_do_update(index_elements=["record_id", "name"], set_={"value": stmt.excluded.value})
        try:
            with self._write() as conn:
                conn.execute(stmt, rows)
        except IntegrityError:
            raise RecordNotFoundError("Cannot store metrics: some record ids do not exist (purged?).") from None
        return len(rows)

    def add_embeddings(self, vectors: Iterable[tuple[str, str, str, Any]]) -> int:
        """Store ``(record_id, "prompt"|"response", encoder name, vector)``, replacing earlier ones."""
        rows = []
        for rid, field, model, vector in vectors:
            if field not in ("prompt", "response"):
                raise InvalidInputError(f"Embedding field must be 'prompt' or 'response', got {field!r}.")
            data = pack_vector(vector)
            rows.append(
                {"record_id": sql.check_id(rid), "field": field, "model": model, "dim": len(data) // 4, "vector": data}
            )
        if not rows:
            return 0
        stmt = sql.insert_for(embeddings, self.dialect)
        stmt = stmt.on_conflict_do_update(
            index_elements=["record_id", "field", "model"],
            set_={"dim": stmt.excluded.dim, "vector": stmt.excluded.vector},
        )
        try:
            with self._write() as conn:
                conn.execute(stmt, rows)
        except IntegrityError:
            raise RecordNotFoundError("Cannot store embeddings: some record ids do not exist (purged?).") from None
        return len(rows)

    def get_embeddings(
        self,
        field: str = "prompt",
        *,
        model: str | None = None,
        filter: RecordFilter | None = None,
        limit: int | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Record ids and their vectors (``[n, dim]`` float32, oldest first) for a window of records."""
        with self.engine.connect() as conn:
            if model is None:
                models: Iterable[str] = conn.execute(
                    select(embeddings.c.model).distinct().where(embeddings.c.field == field)
                ).scalars()
                found = sorted(models)
                if len(found) > 1:
                    raise InvalidInputError(
                        f"Embeddings from several encoders exist ({', '.join(found)}); pass model=."
                    )
                model = found[0] if found else ""
            stmt = (
                select(embeddings.c.record_id, embeddings.c.vector)
                .join(records, records.c.id == embeddings.c.record_id)
                .where(embeddings.c.field == field, embeddings.c.model == model, *sql.filter_conditions(filter))
                .order_by(records.c.created_at, records.c.id)
                .limit(limit)
            )
            rows = cast(Sequence[tuple[str, bytes]], conn.execute(stmt).all())  # (record id, packed vector)
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        dims = {len(v) for _, v in rows}
        if len(dims) > 1:
            raise InvalidInputError(f"Stored {field} vectors of {model!r} have different sizes {sorted(dims)}.")
        matrix = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1)
        return [r for r, _ in rows], matrix.astype(np.float32)

    def missing_metric(self, name: str, *, limit: int = 500) -> list[StoredRecord]:
        """Oldest records that have no value for metric ``name`` yet (work for an enrichment job)."""
        done = select(metrics.c.record_id).where(metrics.c.name == name)
        stmt = select(records).where(records.c.id.not_in(done)).order_by(records.c.created_at).limit(limit)
        with self.engine.connect() as conn:
            return [sql.record_of(r) for r in conn.execute(stmt)]

    def missing_embedding(self, field: str, model: str, *, limit: int = 500) -> list[StoredRecord]:
        """Oldest records without a ``field`` embedding from encoder ``model``."""
        done = select(embeddings.c.record_id).where(embeddings.c.field == field, embeddings.c.model == model)
        stmt = select(records).where(records.c.id.not_in(done)).order_by(records.c.created_at).limit(limit)
        with self.engine.connect() as conn:
            return [sql.record_of(r) for r in conn.execute(stmt)]

    def metric_names(self) -> list[str]:
        """Metrics that can be charted: the built-in ones, then every name in the metrics table."""
        with self.engine.connect() as conn:
            stmt = select(metrics.c.name).distinct().order_by(metrics.c.name)
            stored: Sequence[str] = conn.execute(stmt).scalars().all()
        return [*sql.BUILTIN_METRICS, *(n for n in stored if n not in sql.BUILTIN_METRICS)]

    def metric_values(self, metric: str, filter: RecordFilter | None = None, *, limit: int | None = None) -> np.ndarray:
        """Non-null values of ``metric`` over the filtered records, oldest first (float64)."""
        value, source = sql.metric_source(metric)
        stmt = (
            select(value)
            .select_from(source)
            .where(value.is_not(None), *sql.filter_conditions(filter))
            .order_by(records.c.created_at, records.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return np.asarray(conn.execute(stmt).scalars().all(), dtype=np.float64)

    def metric_series(
        self,
        metric: str,
        *,
        bucket: timedelta | int = 3600,
        filter: RecordFilter | None = None,
        group_by: str | None = None,
        percentiles: bool = False,
    ) -> list[SeriesPoint]:
        """``metric`` aggregated per time bucket (and per ``group_by`` column), oldest first;
        with ``percentiles``, each bucket's median and 95th percentile too (latency is skewed: its
        mean hides the slow tail that p95 shows).

        ``metric`` is a built-in name (``latency_ms``, ``response_chars``, ``cache_hit``,
        ``feedback``... see ``pellucid.monitor.sql.BUILTIN_METRICS``), ``flag:<name>`` (the share of
        records carrying a data-quality flag) or any name stored with :meth:`add_metrics`.
        ``group_by`` is one of ``model``, ``model_version``, ``template_version``, ``language``.
        """
        seconds = int(bucket.total_seconds()) if isinstance(bucket, timedelta) else int(bucket)
        if seconds < 1:
            raise InvalidInputError(f"bucket must be at least one second, got {bucket!r}.")
        if group_by is not None and group_by not in sql.GROUP_COLUMNS:
            raise InvalidInputError(f"Cannot group by {group_by!r}. Available: {', '.join(sql.GROUP_COLUMNS)}.")
        value, source = sql.metric_source(metric)
        start = sql.time_bucket(self.dialect, seconds).label("bucket")
        keys: list[Any] = [start] if group_by is None else [start, records.c[group_by].label("grp")]
        stmt = (
            select(*keys, func.count(value), func.avg(value), func.min(value), func.max(value))
            .select_from(source)
            .where(*sql.filter_conditions(filter))
            .group_by(*keys)
            .order_by(*keys)
        )
        with self.engine.connect() as conn:
            # (bucket, group, count, mean, min, max); the database decides the numeric types
            rows: list[tuple[Any, ...]] = [tuple(r) if group_by else (r[0], None, *r[1:]) for r in conn.execute(stmt)]
        tails = self._bucket_percentiles(value, source, keys, filter) if percentiles else {}
        return [
            SeriesPoint(
                bucket_start=datetime.fromtimestamp(int(b), UTC),
                group=g,
                count=int(n),
                mean=None if mean is None else float(mean),
                min=None if lo is None else float(lo),
                max=None if hi is None else float(hi),
                p50=tails.get((int(b), g), (None, None))[0],
                p95=tails.get((int(b), g), (None, None))[1],
            )
            for b, g, n, mean, lo, hi in rows
        ]

    def _bucket_percentiles(
        self, value: Any, source: Any, keys: list[Any], filter: RecordFilter | None
    ) -> dict[tuple[int, str | None], tuple[float, float]]:
        """``{(bucket start, group): (p50, p95)}`` of ``value``, computed from the values (the
        databases disagree on percentile SQL)."""
        stmt = select(*keys, value).select_from(source).where(value.is_not(None), *sql.filter_conditions(filter))
        groups: dict[tuple[int, str | None], list[float]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                key = (int(row[0]), row[1] if len(keys) == 2 else None)
                groups.setdefault(key, []).append(float(row[-1]))
        return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for k, v in groups.items()}
