"""Dictionary features of logged responses: store each record's strongest latents, read them per window.

Rows are plain ``(record id, dictionary name, latent, activation)``; the model work that finds
them is one layer up (:mod:`pellucid.service.feature_enrichment`). A record counts as done for a
dictionary once its marker metric ``features:<dictionary>`` exists (the number of latents kept,
0 for a response where nothing fires), so an empty response is not recomputed forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.errors import RecordNotFoundError
from pellucid.monitor.records import RecordFilter, StoredRecord
from pellucid.monitor.repository_metrics import MetricQueries
from pellucid.monitor.sql import metrics, record_features, records


def feature_marker(dictionary: str) -> str:
    """The metric that marks a record's features as computed for ``dictionary``."""
    if not dictionary or len(dictionary) > 90:
        raise InvalidInputError(f"Dictionary name {dictionary!r}; give 1 to 90 characters (the folder's name).")
    return f"features:{dictionary}"


class FeatureQueries(MetricQueries):
    """Feature rows and their per-window reads (a base of ``Repository``)."""

    def add_features(self, dictionary: str, found: Iterable[tuple[str, list[tuple[int, float]]]]) -> int:
        """Store each record's ``[(latent, activation), ...]`` for ``dictionary`` (replacing earlier ones)
        and its marker; returns the number of feature rows written."""
        marker = feature_marker(dictionary)
        found = [(sql.check_id(rid), latents) for rid, latents in found]
        if not found:
            return 0
        rows = [
            {"record_id": rid, "dictionary": dictionary, "latent": int(latent), "activation": float(value)}
            for rid, latents in found
            for latent, value in latents
        ]
        ids = [rid for rid, _ in found]
        try:
            with self._write() as conn:
                conn.execute(
                    record_features.delete().where(
                        record_features.c.dictionary == dictionary, record_features.c.record_id.in_(ids)
                    )
                )
                if rows:
                    conn.execute(record_features.insert(), rows)
        except IntegrityError:
            raise RecordNotFoundError("Cannot store features: some record ids do not exist (purged?).") from None
        self.add_metrics((rid, marker, float(len(latents))) for rid, latents in found)
        return len(rows)

    def missing_features(self, dictionary: str, *, limit: int = 500) -> list[StoredRecord]:
        """Oldest answered records whose features for ``dictionary`` were never computed."""
        done = select(metrics.c.record_id).where(metrics.c.name == feature_marker(dictionary))
        stmt = (
            select(records)
            .where(records.c.id.not_in(done), records.c.response.is_not(None), records.c.error.is_(None))
            .order_by(records.c.created_at, records.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [sql.record_of(r) for r in conn.execute(stmt)]

    def feature_sets(
        self, dictionary: str, filter: RecordFilter | None = None
    ) -> tuple[list[str], dict[str, list[int]]]:
        """Records of a window whose features were computed (oldest first) and each one's latents."""
        marker = feature_marker(dictionary)
        done = (
            select(metrics.c.record_id)
            .join(records, records.c.id == metrics.c.record_id)
            .where(metrics.c.name == marker, *sql.filter_conditions(filter))
            .order_by(records.c.created_at, records.c.id)
        )
        with self.engine.connect() as conn:
            ids = [str(rid) for rid in cast(Sequence[str], conn.execute(done).scalars().all())]
            stmt = (
                select(record_features.c.record_id, record_features.c.latent)
                .join(records, records.c.id == record_features.c.record_id)
                .where(record_features.c.dictionary == dictionary, *sql.filter_conditions(filter))
            )
            latents: dict[str, list[int]] = {rid: [] for rid in ids}
            for rid, latent in cast(Sequence[tuple[str, int]], conn.execute(stmt).all()):
                if rid in latents:
                    latents[rid].append(int(latent))
        return ids, latents

    def records_with_feature(
        self, dictionary: str, latent: int, filter: RecordFilter | None = None, *, limit: int = 20
    ) -> list[tuple[str, float]]:
        """``(record id, activation)`` of the records where ``latent`` fires most strongly."""
        stmt = (
            select(record_features.c.record_id, record_features.c.activation)
            .join(records, records.c.id == record_features.c.record_id)
            .where(
                record_features.c.dictionary == dictionary,
                record_features.c.latent == int(latent),
                *sql.filter_conditions(filter),
            )
            .order_by(record_features.c.activation.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            found = cast(Sequence[tuple[str, float]], conn.execute(stmt).all())
        return [(str(rid), float(value)) for rid, value in found]
