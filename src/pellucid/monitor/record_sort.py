"""Sorting the records listing by a column other than time, and the cursor of such pages.

The default listing is newest first and pages by keyset on ``(created_at, id)``: stable while new
records arrive. A table sorted by latency, tokens or model cannot keyset on a column that may be
NULL without a three-part cursor, so a sorted listing pages by *offset* instead, and its cursor
says so (``{"offset": n}``, opaque to the client like the keyset one). Records without a value
(a failed call has no token counts) come last in both directions; ties are broken by id, so two
requests for the same page answer the same rows while the store does not change.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, func

from pellucid.errors import InvalidInputError
from pellucid.monitor.sql import records

#: The columns a listing can be sorted by, and what each means.
SORT_COLUMNS: dict[str, str] = {
    "created_at": "when the call was logged",
    "model": "the model's name (alphabetical)",
    "latency_ms": "total latency of the call",
    "ttft_ms": "time to first token",
    "prompt_tokens": "prompt length in tokens",
    "completion_tokens": "response length in tokens",
    "prompt_chars": "prompt length in characters",
    "response_chars": "response length in characters",
}


def check_sort(sort: str) -> str:
    """``sort`` if it names a sortable column; otherwise an error listing the allowed ones."""
    if sort not in SORT_COLUMNS:
        raise InvalidInputError(
            f"Cannot sort records by {sort!r}. Available: {', '.join(SORT_COLUMNS)}; omit sort for the newest first."
        )
    return sort


def _expression(sort: str) -> ColumnElement[Any]:
    c = records.c
    if sort == "prompt_chars":
        return func.length(c.prompt_text)
    if sort == "response_chars":
        return func.length(c.response)
    return c[sort]


def sort_order(sort: str, descending: bool) -> tuple[UnaryExpression[Any], ...]:
    """``ORDER BY`` terms: missing values last, then the column, then the id (same direction)."""
    value = _expression(check_sort(sort))
    direction = (lambda e: e.desc()) if descending else (lambda e: e.asc())
    return (value.is_(None).asc(), direction(value), direction(records.c.id))


def encode_offset_cursor(offset: int) -> str:
    """The cursor of the sorted page that starts ``offset`` rows in."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_offset_cursor(cursor: str) -> int:
    """The offset a sorted page's cursor names; a clear error for anything else."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = raw["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(offset)
        return offset
    except (ValueError, TypeError, KeyError):
        raise InvalidInputError(
            f"Invalid page cursor {cursor!r} for a sorted listing; pass back the next_cursor of a "
            "previous page with the same sort, or omit it."
        ) from None
