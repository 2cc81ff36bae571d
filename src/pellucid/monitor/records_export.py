"""The filtered records as a table file: CSV or Parquet, in the listing's order.

An export is the records table taken whole: the same :class:`RecordFilter` and sort as the
listing, read page by page (so memory stays bounded by one page of rows for CSV) and written as
one row per record with the columns of :data:`EXPORT_COLUMNS`. Tags and flag names are joined
with ``;`` in CSV and kept as lists of strings in Parquet.

Parquet keeps the types (timestamps in UTC, numbers as float64 / int64 with nulls); each page
becomes one row group. CSV is streamed: the header first, then one chunk per page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import RecordFilter, StoredRecord
from pellucid.monitor.repository import Repository

#: The columns of an exported file, in order.
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "model",
    "model_version",
    "prompt_text",
    "response",
    "error",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "tags",
    "flags",
)
#: The file formats an export can be written in.
EXPORT_FORMATS = ("csv", "parquet")
_PAGE = 1000


def check_format(fmt: str) -> str:
    """``fmt`` if it is a known export format; otherwise an error that lists them."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"Unknown export format {fmt!r}. Available: {', '.join(EXPORT_FORMATS)}.")
    return fmt


def iter_records(
    repo: Repository, filter: RecordFilter | None, *, sort: str | None = None, descending: bool = True
) -> Iterator[list[StoredRecord]]:
    """Every record ``filter`` selects, one page (up to 1000) at a time, in the listing's order."""
    cursor: str | None = None
    while True:
        page = repo.list_records(filter, limit=_PAGE, cursor=cursor, sort=sort, descending=descending)
        if page.items:
            yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def export_row(record: StoredRecord) -> dict[str, Any]:
    """One record as a row of :data:`EXPORT_COLUMNS` (tags and flag names as sorted lists)."""
    row = {name: getattr(record, name) for name in EXPORT_COLUMNS if name not in ("tags", "flags")}
    row["tags"] = list(record.tags)
    row["flags"] = sorted(record.flags)
    return row


def csv_chunks(pages: Iterator[list[StoredRecord]]) -> Iterator[str]:
    """The CSV text: the header, then one chunk per page (times in ISO 8601, lists joined by ``;``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        for record in page:
            row = export_row(record)
            row["created_at"] = record.created_at.isoformat()
            row["tags"] = ";".join(row["tags"])
            row["flags"] = ";".join(row["flags"])
            writer.writerow(row)
        yield buffer.getvalue()


def parquet_bytes(pages: Iterator[list[StoredRecord]]) -> bytes:
    """The Parquet file: one row group per page, typed columns (an empty file keeps the schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            *((name, pa.string()) for name in ("model", "model_version", "prompt_text", "response", "error")),
            ("latency_ms", pa.float64()),
            ("ttft_ms", pa.float64()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("tags", pa.list_(pa.string())),
            ("flags", pa.list_(pa.string())),
        ]
    )
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, schema) as writer:
        wrote = False
        for page in pages:
            writer.write_table(pa.Table.from_pylist([export_row(r) for r in page], schema=schema))
            wrote = True
        if not wrote:
            writer.write_table(schema.empty_table())
    return sink.getvalue()
