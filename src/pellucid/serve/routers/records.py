"""Logged calls: ``GET /api/records``, ``GET /api/records/export``, ``GET /api/records/{id}``,
``POST /api/records/{id}/feedback``.

Listing is newest first, filtered by any combination of the query parameters, and paged with
an opaque cursor: pass a page's ``next_cursor`` back as ``cursor`` for the next one (``null``
on the last page). Pages stay stable while new calls arrive. ``sort`` and ``order`` list them by
another column (latency, tokens...; an unknown column is a 422 naming the allowed ones); such
pages go by offset. ``/api/records/export`` writes every record the same filters select, in the
same order, as CSV (streamed) or Parquet.

A record is written a fraction of a second after its call returns (the writer batches): a
lookup or feedback that finds no record first waits for the writer to flush, then tries
again, so a client may attach feedback right after receiving the record id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from pellucid.errors import InvalidInputError
from pellucid.monitor.errors import RecordNotFoundError, StoreError
from pellucid.monitor.record_sort import SORT_COLUMNS, check_sort
from pellucid.monitor.records import RecordFilter
from pellucid.monitor.records_export import csv_chunks, iter_records, parquet_bytes
from pellucid.monitor.sdk import Monitor
from pellucid.serve.schemas import Number
from pellucid.serve.state import app_state

router = APIRouter(tags=["records"])
T = TypeVar("T")
_FLUSH_WAIT = 5.0  # seconds a lookup waits for queued records to be written
_REPLICA_WAIT = 3.0  # seconds a lookup of a just-created id waits for another replica's writer


class FeedbackRequest(BaseModel):
    kind: Literal["thumbs_up", "thumbs_down", "score", "comment"]
    value: float | None = Field(None, description="Required for kind=score.")
    comment: str | None = Field(None, max_length=20_000)
    user_id: str | None = Field(None, max_length=200)
    id: str | None = Field(None, description="A UUID you choose, so a retried request is stored once.")


class FeedbackEntry(BaseModel):
    """One piece of human feedback on a record."""

    id: str
    record_id: str
    kind: str
    value: float | None
    comment: str | None
    user_id: str | None
    created_at: str = Field(description="ISO 8601 with +00:00.")


class RecordItem(BaseModel):
    """A logged call with its tags, flags, feedback and metrics (times in ISO 8601 with +00:00)."""

    id: str
    created_at: str
    prompt: str | list[dict[str, Any]] = Field(description="Text, or chat messages as sent to the model.")
    prompt_text: str
    prompt_hash: str
    response: str | None
    model: str | None
    model_version: str | None
    template_version: str | None
    latency_ms: float | None
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    params: dict[str, Any]
    user_id: str | None
    session_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    cache_hit: bool | None
    cache_key: str | None
    redaction: dict[str, Any] | None
    flags: dict[str, str]
    language: str | None
    error: str | None
    feedback: list[FeedbackEntry]
    metrics: dict[str, Number | None]


class RecordPage(BaseModel):
    """One page of records; pass ``next_cursor`` back as ``cursor`` for the next (null: the last)."""

    items: list[RecordItem]
    next_cursor: str | None
    total: int | None = Field(description="Matching records, when with_total was asked.")


def _monitor(request: Request) -> Monitor:
    monitor = app_state(request).monitor
    if monitor is None:
        raise StoreError("No monitoring store is configured; start the server with one (pellucid serve opens it).")
    return monitor


def _after_flush(monitor: Monitor, action: Callable[[], T], record_id: str | None = None) -> T:
    """``action()``; if the record is not found, flush the writer and try again.

    A record logged by *another* gateway replica on the same database reaches it only when that
    replica's writer flushes (every fraction of a second). So when ``record_id`` was created in
    the last few seconds (its UUIDv7 carries the time), the lookup is retried for up to
    ``_REPLICA_WAIT`` seconds before answering 404; an older or unknown id answers at once.
    """
    try:
        return action()
    except RecordNotFoundError:
        if not monitor.flush(timeout=_FLUSH_WAIT):
            raise
    try:
        return action()
    except RecordNotFoundError:
        if record_id is None or not _just_created(record_id):
            raise
    deadline = time.monotonic() + _REPLICA_WAIT
    while True:
        time.sleep(0.1)
        try:
            return action()
        except RecordNotFoundError:
            if time.monotonic() >= deadline:
                raise


def _just_created(record_id: str) -> bool:
    """Whether a UUIDv7 id was minted within the last ``_REPLICA_WAIT`` seconds (by any replica)."""
    try:
        value = uuid.UUID(record_id)
    except ValueError:
        return False
    if value.version != 7:
        return False
    created_ms = value.int >> 80
    return 0 <= time.time() * 1000 - created_ms <= _REPLICA_WAIT * 1000


def _checked_id(record_id: str) -> str:
    try:
        from pellucid.monitor.sql import check_id

        return check_id(record_id)
    except InvalidInputError as exc:  # a malformed id names no record: 404, like an unknown one
        raise RecordNotFoundError(str(exc)) from None


def record_filter(
    model: str | None = None,
    model_version: str | None = None,
    template_version: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    tag: str | None = None,
    flag: str | None = Query(None, description="A data-quality flag, e.g. empty_response."),
    feedback: str | None = Query(None, description="thumbs_up, thumbs_down, score, comment, any or none."),
    q: str | None = Query(None, description="Case-insensitive text in the prompt or the response."),
    cache_hit: bool | None = None,
    feature: str | None = Query(None, description="NAME:ID: records whose stored features include latent ID of NAME."),
    since: datetime | None = Query(None, description="ISO 8601; naive times are UTC."),
    until: datetime | None = None,
) -> RecordFilter:
    """The records the query's filters select (shared by the listing and the export)."""
    return RecordFilter(
        since=since,
        until=until,
        model=model,
        model_version=model_version,
        template_version=template_version,
        tag=tag,
        flag=flag,
        feedback=feedback,
        text=q,
        user_id=user_id,
        session_id=session_id,
        cache_hit=cache_hit,
        feature=feature,
    )


_SORT_HELP = f"Order by one of: {', '.join(SORT_COLUMNS)} (default: created_at, newest first)."
_ORDER_HELP = "asc or desc (default desc) for sort."


def _sort(sort: str | None) -> str | None:
    return None if sort is None else check_sort(sort)


@router.get("/records", response_model=RecordPage)
def list_records(
    request: Request,
    filter: RecordFilter = Depends(record_filter),
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = None,
    oldest_first: bool = False,
    with_total: bool = False,
    sort: str | None = Query(None, description=_SORT_HELP),
    order: Literal["asc", "desc"] = Query("desc", description=_ORDER_HELP),
) -> dict[str, Any]:
    """A page of records matching every given filter, newest first or in ``sort`` order."""
    page = _monitor(request).repo.list_records(
        filter,
        limit=limit,
        cursor=cursor,
        oldest_first=oldest_first,
        with_total=with_total,
        sort=_sort(sort),
        descending=order == "desc",
    )
    return {"items": [r.to_dict() for r in page.items], "next_cursor": page.next_cursor, "total": page.total}


@router.get("/records/export")
def export_records(
    request: Request,
    filter: RecordFilter = Depends(record_filter),
    format: Literal["csv", "parquet"] = Query("csv", description="csv (streamed) or parquet."),
    sort: str | None = Query(None, description=_SORT_HELP),
    order: Literal["asc", "desc"] = Query("desc", description=_ORDER_HELP),
) -> Response:
    """Every record the filters select, as a CSV or Parquet file in the listing's order."""
    repo = _monitor(request).repo
    pages = iter_records(repo, filter, sort=_sort(sort), descending=order == "desc")
    name = f"pellucid-records.{format}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    if format == "parquet":
        return Response(parquet_bytes(pages), media_type="application/vnd.apache.parquet", headers=headers)
    return StreamingResponse(csv_chunks(pages), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/records/{record_id}", response_model=RecordItem)
def get_record(record_id: str, request: Request) -> dict[str, Any]:
    """One record with its tags, feedback and metrics."""
    monitor = _monitor(request)
    rid = _checked_id(record_id)
    return _after_flush(monitor, lambda: monitor.repo.get_record(rid), rid).to_dict()


@router.post("/records/{record_id}/feedback", status_code=201, response_model=FeedbackEntry)
def add_feedback(record_id: str, body: FeedbackRequest, request: Request) -> dict[str, Any]:
    """Attach a thumbs up/down (value 1 / -1), a score (``value``) or a comment to a record."""
    monitor = _monitor(request)
    rid = _checked_id(record_id)
    entry = _after_flush(
        monitor,
        lambda: monitor.repo.add_feedback(rid, body.kind, body.value, body.comment, user_id=body.user_id, id=body.id),
        rid,
    )
    return entry.to_dict()
