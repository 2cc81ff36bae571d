"""SQL building blocks shared by the repository: filters, upserts, time buckets, metric values.

Everything dialect-specific is here, behind small functions, so the repository's queries read
the same for SQLite and PostgreSQL:

- :func:`insert_for` returns the dialect's ``INSERT`` that understands ``ON CONFLICT``.
- :func:`time_bucket` turns ``created_at`` into the Unix time of the start of its bucket.
- :func:`metric_source` says where a metric's values come from: a ``records`` column
  (``latency_ms``), an expression (``response_chars``), a flag rate (``flag:empty_prompt``),
  feedback values (``feedback``), or a row of the ``metrics`` table (anything else).
- :func:`filter_conditions` turns a :class:`RecordFilter` into ``WHERE`` clauses.
- :func:`record_of` / :func:`feedback_of` turn result rows into plain data.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    Table,
    and_,
    case,
    cast,
    extract,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy import Float as SAFloat
from sqlalchemy import Integer as SAInteger
from sqlalchemy.dialects import postgresql, sqlite

from pellucid.errors import InvalidInputError
from pellucid.monitor.db import Embedding, Feedback, Metric, Record, RecordFeature, RecordTag
from pellucid.monitor.records import FeedbackEntry, RecordFilter, StoredRecord, parse_feature_filter

_SURROGATES = re.compile("[\ud800-\udfff]")

records: Table = Record.__table__  # type: ignore[assignment]
tags: Table = RecordTag.__table__  # type: ignore[assignment]
feedback: Table = Feedback.__table__  # type: ignore[assignment]
metrics: Table = Metric.__table__  # type: ignore[assignment]
embeddings: Table = Embedding.__table__  # type: ignore[assignment]
record_features: Table = RecordFeature.__table__  # type: ignore[assignment]

#: Columns a metric series can be grouped by.
GROUP_COLUMNS = ("model", "model_version", "template_version", "language")

#: Metrics read straight from each record (no enrichment needed).
BUILTIN_METRICS: dict[str, str] = {
    "latency_ms": "total latency of the call, milliseconds",
    "ttft_ms": "time to first token, milliseconds",
    "prompt_tokens": "prompt length in tokens",
    "completion_tokens": "response length in tokens",
    "prompt_chars": "prompt length in characters",
    "response_chars": "response length in characters",
    "cache_hit": "share of calls answered from the cache (0..1)",
    "error": "share of calls that failed (0..1)",
    "records": "number of calls (the count; the mean is 1)",
    "feedback": "mean feedback value: thumbs up 1, thumbs down -1, scores as given",
}


def insert_for(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """``INSERT INTO table`` for ``dialect``, with ``on_conflict_do_nothing/do_update`` available."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise InvalidInputError(f"Unsupported database {dialect!r}; Pellucid's store runs on sqlite and postgresql.")


def time_bucket(dialect: str, seconds: int) -> ColumnElement[int]:
    """Unix time (integer seconds) of the start of the ``seconds``-wide bucket of ``created_at``.

    Buckets are aligned on the Unix epoch, so hourly buckets start on the hour (UTC). The
    width is rendered as a literal so the same expression can appear in ``GROUP BY``.
    """
    width: ColumnElement[int] = literal_column(str(int(seconds)), SAInteger)
    created = records.c.created_at
    if dialect == "postgresql":
        epoch = func.floor(extract("epoch", created) / width)
        return cast(epoch, SAInteger) * width
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; strftime('%s') would round the
    # fraction, so cut it off first.
    epoch_s = cast(func.strftime(literal_column("'%s'"), func.substr(created, 1, literal_column("19"))), SAInteger)
    return cast(epoch_s / width, SAInteger) * width


def metric_source(name: str) -> tuple[ColumnElement[Any], FromClause]:
    """The value expression of metric ``name`` and the FROM clause that provides it."""
    numeric = {"latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens"}
    if name in numeric:
        return cast(records.c[name], SAFloat), records
    if name == "prompt_chars":
        return cast(func.length(records.c.prompt_text), SAFloat), records
    if name == "response_chars":
        return cast(func.length(records.c.response), SAFloat), records
    if name == "cache_hit":
        hit = records.c.cache_hit
        return case((hit.is_(None), None), (hit.is_(True), 1.0), else_=0.0), records
    if name == "error":
        return case((records.c.error.is_not(None), 1.0), else_=0.0), records
    if name == "records":
        return literal_column("1.0", SAFloat), records
    if name == "feedback":
        joined = records.join(
            feedback,
            and_(feedback.c.record_id == records.c.id, feedback.c.kind.in_(("thumbs_up", "thumbs_down", "score"))),
        )
        return feedback.c.value, joined
    if name.startswith("flag:"):
        flag = name.removeprefix("flag:")
        if not flag:
            raise InvalidInputError("A flag metric needs a flag name, e.g. 'flag:empty_prompt'.")
        return case((has_flag(flag), 1.0), else_=0.0), records
    if not name or len(name) > 100:
        raise InvalidInputError(f"Metric names are 1 to 100 characters, got {name!r}.")
    joined = records.join(metrics, and_(metrics.c.record_id == records.c.id, metrics.c.name == name))
    return metrics.c.value, joined


def has_flag(flag: str) -> ColumnElement[bool]:
    """True where a record carries data-quality flag ``flag``."""
    value: ColumnElement[str] = records.c.flags[flag].as_string()
    return value.is_not(None)


def filter_conditions(f: RecordFilter | None) -> list[ColumnElement[bool]]:
    """``WHERE`` clauses (to be AND-ed) selecting the records ``f`` describes."""
    if f is None:
        return []
    c = records.c
    out: list[ColumnElement[bool]] = []
    if f.since is not None:
        out.append(c.created_at >= f.since)
    if f.until is not None:
        out.append(c.created_at < f.until)
    for name in ("model", "model_version", "template_version", "user_id", "session_id", "trace_id"):
        value = getattr(f, name)
        if value is not None:
            out.append(c[name] == value)
    if f.cache_hit is not None:
        out.append(c.cache_hit.is_(f.cache_hit))
    if f.tag is not None:
        out.append(c.id.in_(select(tags.c.record_id).where(tags.c.tag == f.tag)))
    if f.flag is not None:
        out.append(has_flag(f.flag))
    if f.feedback == "any":
        out.append(c.id.in_(select(feedback.c.record_id)))
    elif f.feedback == "none":
        out.append(c.id.not_in(select(feedback.c.record_id)))
    elif f.feedback is not None:
        out.append(c.id.in_(select(feedback.c.record_id).where(feedback.c.kind == f.feedback)))
    if f.feature is not None:
        name, latent = parse_feature_filter(f.feature)
        fired = select(record_features.c.record_id).where(
            record_features.c.dictionary == name, record_features.c.latent == latent
        )
        out.append(c.id.in_(fired))
    if f.text:
        out.append(or_(c.prompt_text.icontains(f.text, autoescape=True), c.response.icontains(f.text, autoescape=True)))
    return out


def clean_text(value: str) -> str:
    """``value`` made storable everywhere: NUL and lone surrogates become U+FFFD.

    PostgreSQL rejects NUL in text and JSON, and no driver can encode lone surrogates as UTF-8.
    The data-quality flags are computed before this, so such input is still reported.
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    return value


def dump_json(value: Any) -> str:
    """Serialise a JSON column value so that every database accepts it (the engines' serializer).

    Most values are clean: one C-speed ``json.dumps`` is all they cost. Values with NUL
    characters, lone surrogates, NaN or types JSON cannot hold go through :func:`clean_json`.
    """
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(clean_json(value), ensure_ascii=False)
    if "\\u0000" in encoded or _SURROGATES.search(encoded):
        return json.dumps(clean_json(value), ensure_ascii=False)
    return encoded


def clean_json(value: Any) -> Any:
    """A JSON value every database accepts: strings cleaned (:func:`clean_text`), keys made
    strings, NaN and infinities as null (PostgreSQL's JSONB has no NaN), numpy scalars as
    numbers, and anything else JSON cannot hold (datetimes, paths, objects) as its ``str()``."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars and 0-d arrays
        try:
            return clean_json(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return clean_json(value.tolist())
    return clean_text(str(value))


def check_id(value: str) -> str:
    """``value`` as a canonical UUID string; raises if it is not a record id."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInputError(f"{value!r} is not a record id; ids are UUIDs like 0192f0c4-...") from None


def record_of(
    row: Row[Any],
    tag_list: Sequence[str] = (),
    fb: Sequence[FeedbackEntry] = (),
    values: dict[str, float] | None = None,
) -> StoredRecord:
    m = row._mapping
    return StoredRecord(
        id=m["id"],
        created_at=m["created_at"],
        prompt=m["prompt"] if m["prompt"] is not None else m["prompt_text"],
        prompt_text=m["prompt_text"],
        prompt_hash=m["prompt_hash"],
        response=m["response"],
        model=m["model"],
        model_version=m["model_version"],
        template_version=m["template_version"],
        latency_ms=m["latency_ms"],
        ttft_ms=m["ttft_ms"],
        prompt_tokens=m["prompt_tokens"],
        completion_tokens=m["completion_tokens"],
        params=m["params"] or {},
        user_id=m["user_id"],
        session_id=m["session_id"],
        tags=tuple(sorted(tag_list)),
        metadata=m["metadata"] or {},
        cache_hit=m["cache_hit"],
        cache_key=m["cache_key"],
        redaction=m["redaction"],
        flags=m["flags"] or {},
        language=m["language"],
        error=m["error"],
        feedback=tuple(fb),
        metrics=dict(values or {}),
        trace_id=m["trace_id"],
        span_id=m["span_id"],
        parent_span_id=m["parent_span_id"],
    )


def feedback_of(row: Row[Any]) -> FeedbackEntry:
    m = row._mapping
    return FeedbackEntry(m["id"], m["record_id"], m["kind"], m["value"], m["comment"], m["user_id"], m["created_at"])
