"""Every query of the monitoring store: routes, the SDK, exports and drift code call these.

Writes are idempotent: records and feedback carry client-generated ids and are inserted with
``ON CONFLICT DO NOTHING``, so a batch retried after a timeout (when the first attempt may in
fact have committed) never duplicates anything. Metrics and embeddings are upserted: computing
them again replaces the old value.

Reads take a :class:`RecordFilter`. Listing uses keyset pagination on ``(created_at, id)``: a
cursor names the last row seen, so pages stay stable and cheap while new records arrive (an
``offset`` is accepted too, for "jump to page 7" views). Metric series aggregate in the database
(count, mean, min, max per time bucket and group), so a dashboard never pulls raw rows.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from pellucid.errors import InvalidInputError
from pellucid.monitor import record_sort, sql
from pellucid.monitor.errors import RecordNotFoundError
from pellucid.monitor.records import (
    FEEDBACK_KINDS,
    THUMB_VALUES,
    FeedbackEntry,
    NewRecord,
    Page,
    RecordFilter,
    StoredRecord,
    as_utc,
    new_id,
    prompt_hash,
    utcnow,
)
from pellucid.monitor.repository_features import FeatureQueries
from pellucid.monitor.sql import feedback, metrics, records, tags

MAX_PAGE = 1000


def _row_of(r: NewRecord) -> dict[str, Any]:
    """The ``records`` row for ``r``. Text is made storable here, JSON by ``sql.dump_json``."""
    return {
        "id": sql.check_id(r.id),
        "created_at": as_utc(r.created_at),
        "model": r.model,
        "model_version": r.model_version,
        "template_version": r.template_version,
        "prompt": r.prompt,
        "prompt_text": sql.clean_text(r.prompt_text),
        "prompt_hash": r.prompt_hash or prompt_hash(r.prompt),
        "response": None if r.response is None else sql.clean_text(r.response),
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "params": r.params or None,
        "user_id": r.user_id,
        "session_id": r.session_id,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "parent_span_id": r.parent_span_id,
        "metadata": r.metadata or None,
        "cache_hit": r.cache_hit,
        "cache_key": r.cache_key,
        "redaction": r.redaction,
        "flags": r.flags or None,
        "language": r.language,
        "error": None if r.error is None else sql.clean_text(r.error),
    }


def _encode_cursor(created_at: datetime, record_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, record_id = json.loads(raw)
        return as_utc(datetime.fromisoformat(created)), sql.check_id(record_id)
    except (ValueError, TypeError, InvalidInputError):
        raise InvalidInputError(
            f"Invalid page cursor {cursor!r}; pass back the next_cursor of a previous page, or omit it."
        ) from None


class Repository(FeatureQueries):
    """Queries over one engine. Thread-safe: each call takes its own pooled connection."""

    # -- records -------------------------------------------------------------------------
    def insert_records(self, batch: Sequence[NewRecord]) -> int:
        """Insert a batch in one transaction; ids already stored are skipped. Returns how many were new."""
        rows: dict[str, dict[str, Any]] = {}
        tag_rows: list[dict[str, str]] = []
        for r in batch:
            row = _row_of(r)
            if row["id"] in rows:
                continue
            rows[row["id"]] = row
            tag_rows.extend({"record_id": row["id"], "tag": t} for t in dict.fromkeys(r.tags))
        if not rows:
            return 0
        stmt = sql.insert_for(records, self.dialect).on_conflict_do_nothing(index_elements=["id"])
        with self._write() as conn:
            if self.dialect == "sqlite":  # executemany reports the rows it really inserted
                inserted = conn.execute(stmt, list(rows.values())).rowcount
            else:  # psycopg's executemany does not: ask for the new ids instead
                inserted = len(conn.execute(stmt.returning(records.c.id), list(rows.values())).all())
            if tag_rows:  # tags of records already stored are already there: DO NOTHING keeps them single
                conn.execute(sql.insert_for(tags, self.dialect).on_conflict_do_nothing(), tag_rows)
        return int(inserted)

    def get_record(self, record_id: str) -> StoredRecord:
        """One record with its tags, feedback (oldest first) and metrics."""
        rid = sql.check_id(record_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(records).where(records.c.id == rid)).first()
            if row is None:
                raise RecordNotFoundError(f"No record with id {record_id!r}: it was never stored or has been purged.")
            tag_list: Sequence[str] = conn.execute(select(tags.c.tag).where(tags.c.record_id == rid)).scalars().all()
            fb = conn.execute(
                select(feedback).where(feedback.c.record_id == rid).order_by(feedback.c.created_at, feedback.c.id)
            ).all()
            values = cast(  # (name, value); a value stored as NULL (non-finite) comes back as None
                Sequence[tuple[str, Any]],
                conn.execute(select(metrics.c.name, metrics.c.value).where(metrics.c.record_id == rid)).all(),
            )
        return sql.record_of(row, tag_list, [sql.feedback_of(f) for f in fb], {n: v for n, v in values})

    def add_flags(self, flags: Mapping[str, Mapping[str, str]]) -> int:
        """Add flags (``{record id: {flag: reason}}``) to stored records, keeping their other flags;
        a flag already there gets the new reason. Returns how many records changed."""
        if not flags:
            return 0
        with self._write() as conn:
            for record_id, new in flags.items():
                rid = sql.check_id(record_id)
                row = conn.execute(select(records.c.flags).where(records.c.id == rid)).first()
                if row is None:
                    raise RecordNotFoundError(f"Cannot flag record {record_id!r}: it does not exist (purged?).")
                merged = {**(row[0] or {}), **{str(k): str(v) for k, v in new.items()}}
                conn.execute(update(records).where(records.c.id == rid).values(flags=merged))
        return len(flags)

    def list_records(
        self,
        filter: RecordFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int | None = None,
        oldest_first: bool = False,
        with_total: bool = False,
        sort: str | None = None,
        descending: bool = True,
    ) -> Page:
        """A page of records matching ``filter``, newest first (or oldest first), with their tags.

        Give ``cursor`` (from the previous page's ``next_cursor``) for keyset paging, or
        ``offset`` to skip rows; not both. ``sort`` names another order (see
        :data:`~pellucid.monitor.record_sort.SORT_COLUMNS`; ``descending`` sets its direction),
        whose pages go by offset.
        """
        if sort == "created_at":
            sort, oldest_first = None, not descending
        if sort is not None:
            return self._sorted_page(filter, sort, descending, limit, cursor, offset, with_total)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}.")
        if cursor is not None and offset is not None:
            raise InvalidInputError("Give either cursor or offset, not both.")
        if offset is not None and offset < 0:
            raise InvalidInputError(f"offset must be 0 or more, got {offset}.")
        conds = sql.filter_conditions(filter)
        c = records.c
        if cursor is not None:
            at, rid = _decode_cursor(cursor)
            if oldest_first:
                conds.append(or_(c.created_at > at, and_(c.created_at == at, c.id > rid)))
            else:
                conds.append(or_(c.created_at < at, and_(c.created_at == at, c.id < rid)))
        order = (c.created_at.asc(), c.id.asc()) if oldest_first else (c.created_at.desc(), c.id.desc())
        stmt = select(records).where(*conds).order_by(*order).limit(limit + 1)
        if offset:
            stmt = stmt.offset(offset)
        items, more = self._fetch(stmt, limit)
        next_cursor = _encode_cursor(items[-1].created_at, items[-1].id) if more else None
        total = self.count(filter) if with_total else None
        return Page(items=items, next_cursor=next_cursor, total=total)

    def _sorted_page(
        self,
        filter: RecordFilter | None,
        sort: str,
        descending: bool,
        limit: int,
        cursor: str | None,
        offset: int | None,
        with_total: bool,
    ) -> Page:
        """A page in ``sort`` order, paged by offset (the cursor carries it)."""
        order = record_sort.sort_order(sort, descending)  # checks the name first
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}.")
        if cursor is not None and offset is not None:
            raise InvalidInputError("Give either cursor or offset, not both.")
        start = record_sort.decode_offset_cursor(cursor) if cursor is not None else (offset or 0)
        if start < 0:
            raise InvalidInputError(f"offset must be 0 or more, got {start}.")
        stmt = select(records).where(*sql.filter_conditions(filter)).order_by(*order).offset(start).limit(limit + 1)
        items, more = self._fetch(stmt, limit)
        next_cursor = record_sort.encode_offset_cursor(start + limit) if more else None
        return Page(items=items, next_cursor=next_cursor, total=self.count(filter) if with_total else None)

    def _fetch(self, stmt: Any, limit: int) -> tuple[list[StoredRecord], bool]:
        """The records of ``stmt`` (which asks for ``limit + 1`` rows) with their tags, and whether more follow."""
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            tag_map = self._tags_of(conn, [r.id for r in rows[:limit]])
        return [sql.record_of(r, tag_map.get(r.id, ())) for r in rows[:limit]], len(rows) > limit

    @staticmethod
    def _tags_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
        """The tags of records ``ids``, by record id."""
        tag_map: dict[str, list[str]] = {}
        if ids:
            result = conn.execute(select(tags.c.record_id, tags.c.tag).where(tags.c.record_id.in_(ids)))
            for rid, tag in cast(Iterable[tuple[str, str]], result):
                tag_map.setdefault(rid, []).append(tag)
        return tag_map

    def count(self, filter: RecordFilter | None = None) -> int:
        """How many records match ``filter``."""
        stmt = select(func.count()).select_from(records).where(*sql.filter_conditions(filter))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def find_cached(self, cache_key: str, *, max_age: timedelta | None = None) -> StoredRecord | None:
        """The newest successful record stored under ``cache_key`` (an exact-match response cache)."""
        conds = [records.c.cache_key == cache_key, records.c.error.is_(None), records.c.response.is_not(None)]
        if max_age is not None:
            conds.append(records.c.created_at >= utcnow() - max_age)
        stmt = select(records).where(*conds).order_by(records.c.created_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else sql.record_of(row)

    def purge(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        """Delete records of ``user_id`` and/or created before ``before``; returns how many.

        Their feedback, tags, metrics and embeddings go with them (``ON DELETE CASCADE``). Purging
        by user also deletes the feedback that user gave on other records. At least one
        criterion is required, so nothing is ever deleted wholesale by mistake.

        On SQLite the deleted rows are overwritten (``secure_delete``) and the write-ahead log is
        checkpointed and truncated, so the text is gone from the files, not just unlinked. (On
        PostgreSQL dead rows stay on disk until ``VACUUM`` reuses their space.)
        """
        if user_id is None and before is None:
            raise InvalidInputError("purge needs user_id and/or before; refusing to delete every record.")
        conds = []
        if user_id is not None:
            conds.append(records.c.user_id == user_id)
        if before is not None:
            conds.append(records.c.created_at < as_utc(before))
        with self._write() as conn:
            if self.dialect == "sqlite":  # overwrite deleted content with zeros instead of leaving it in free pages
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            deleted = conn.execute(delete(records).where(*conds)).rowcount
            if user_id is not None:
                conn.execute(delete(feedback).where(feedback.c.user_id == user_id))
        if self.dialect == "sqlite":  # and out of the write-ahead log, which still holds the old pages
            raw = self.engine.raw_connection()  # outside any transaction, or the checkpoint cannot finish
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
            finally:
                raw.close()
        return int(deleted)

    # -- feedback ------------------------------------------------------------------------
    def add_feedback(
        self,
        record_id: str,
        kind: str,
        value: float | None = None,
        comment: str | None = None,
        *,
        user_id: str | None = None,
        id: str | None = None,
        created_at: datetime | None = None,
    ) -> FeedbackEntry:
        """Attach feedback to a record. Thumbs take the value 1 / -1; a score needs ``value``.

        Passing the same ``id`` twice stores it once (safe to retry).
        """
        if kind not in FEEDBACK_KINDS:
            raise InvalidInputError(f"Unknown feedback kind: {kind!r}. Available: {', '.join(FEEDBACK_KINDS)}.")
        if kind in THUMB_VALUES:
            value = THUMB_VALUES[kind]
        elif kind == "score" and (value is None or not math.isfinite(float(value))):
            raise InvalidInputError(f"A score needs a finite numeric value, got {value!r}.")
        elif kind == "comment" and not (comment and comment.strip()):
            raise InvalidInputError("A comment needs non-empty comment text.")
        entry = FeedbackEntry(
            id=sql.check_id(id) if id else new_id(),
            record_id=sql.check_id(record_id),
            kind=kind,
            value=None if value is None else float(value),
            comment=None if comment is None else sql.clean_text(comment),
            user_id=user_id,
            created_at=as_utc(created_at) if created_at else utcnow(),
        )
        stmt = sql.insert_for(feedback, self.dialect).on_conflict_do_nothing(index_elements=["id"])
        try:
            with self._write() as conn:
                conn.execute(stmt, [entry.to_dict() | {"created_at": entry.created_at}])
        except IntegrityError:
            raise RecordNotFoundError(
                f"Cannot add feedback: no record with id {record_id!r} (never stored, or purged)."
            ) from None
        return entry

    def iter_rated(self, filter: RecordFilter | None = None) -> Iterator[tuple[StoredRecord, float, int]]:
        """Records with thumbs/score feedback, as ``(record, mean value, number of ratings)``.

        Ordered by prompt (hash) then time, so answers to the same prompt arrive together —
        what preference-pair export needs. Streams; safe on large stores.
        """
        rated = (
            select(
                feedback.c.record_id,
                func.avg(feedback.c.value).label("rating"),
                func.count().label("n"),
            )
            .where(feedback.c.kind.in_(("thumbs_up", "thumbs_down", "score")))
            .group_by(feedback.c.record_id)
            .subquery()
        )
        stmt = (
            select(records, rated.c.rating, rated.c.n)
            .join(rated, rated.c.record_id == records.c.id)
            .where(*sql.filter_conditions(filter))
            .order_by(records.c.prompt_hash, records.c.created_at, records.c.id)
        )
        with self.engine.connect() as conn:
            for part in conn.execution_options(yield_per=500).execute(stmt).partitions():
                for row in part:
                    yield sql.record_of(row), float(row.rating), int(row.n)
