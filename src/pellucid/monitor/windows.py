"""Window specs: short strings that select records, for drift, alerts and the CLI.

A spec is one or more parts joined by ``,`` (all must hold):

==============================  ==============================================================
``2026-11-01..2026-11-15``      a date range; a date-only end includes that whole day (UTC).
                                Times work too: ``2026-11-01T08:00..2026-11-01T12:00``; either
                                side may be empty (``2026-11-01..`` = from then on).
``last:7d``                     the last 7 days before now (units ``s m h d w``: ``last:90m``)
``version:X``                   records of model version ``X``
``model:X`` / ``template:X``    records of model ``X`` / prompt template version ``X``
``tag:X``                       records tagged ``X``
==============================  ==============================================================

Example: ``--reference version:v1,last:30d --current version:v2``. :func:`parse_window`
returns the :class:`~pellucid.monitor.records.RecordFilter` the repository understands.

Two windows compared for drift must not share records, or the comparison is partly a record
against itself (``last:14d`` contains ``last:1d``). :func:`exclude_current` ends a reference that
began earlier where the current window begins, and refuses a reference that cannot be cut so.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import RecordFilter, utcnow

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_KEYS = {"version": "model_version", "model": "model", "template": "template_version", "tag": "tag"}
EXAMPLES = "2026-11-01..2026-11-15, last:7d, version:v2, tag:canary (join parts with ',')"


def parse_duration(text: str) -> timedelta:
    """``"90m"`` → 90 minutes; units s, m, h, d, w."""
    match = _DURATION.match(str(text))
    if not match:
        raise InvalidInputError(
            f"Invalid duration {text!r}; write a number and a unit (s, m, h, d or w), e.g. 30m, 1h, 7d."
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise InvalidInputError(f"Duration {text!r} must be longer than zero.")
    return timedelta(seconds=seconds)


def _parse_time(text: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"Invalid date {text!r} in a window spec; use ISO dates like 2026-11-01 or 2026-11-01T08:00."
        ) from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    date_only = len(text) == 10
    return value + timedelta(days=1) if end and date_only else value


def parse_window(spec: str, *, now: datetime | None = None) -> RecordFilter:
    """The :class:`RecordFilter` for ``spec`` (see the module docstring)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"Empty window spec; examples: {EXAMPLES}.")
    now = now or utcnow()
    result = RecordFilter()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if ".." in part:
            start, _, stop = part.partition("..")
            since = _parse_time(start, end=False) if start.strip() else None
            until = _parse_time(stop, end=True) if stop.strip() else None
            result = replace(result, since=since or result.since, until=until or result.until)
            continue
        key, sep, value = part.partition(":")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise InvalidInputError(f"Invalid window spec part {part!r}; examples: {EXAMPLES}.")
        if key == "last":
            result = replace(result, since=now - parse_duration(value), until=now)
        elif key in _KEYS:
            result = replace(result, **{_KEYS[key]: value.strip()})  # type: ignore[arg-type]
        else:
            raise InvalidInputError(
                f"Unknown window kind {key!r} in {part!r}. Available: last, {', '.join(_KEYS)}, or a date range "
                f"START..END; examples: {EXAMPLES}."
            )
    # replace() re-runs RecordFilter's checks (since <= until, UTC)
    return replace(result)


#: The fields that select records by something other than time.
_SELECTORS = (
    "model",
    "model_version",
    "template_version",
    "tag",
    "flag",
    "feedback",
    "text",
    "user_id",
    "session_id",
    "cache_hit",
    "trace_id",
    "feature",
)


def _may_share_records(reference: RecordFilter, current: RecordFilter) -> bool:
    """Whether ``reference`` can hold records of ``current``: every non-time condition of the
    reference is absent or the same in the current window (``version:v1`` vs ``version:v2`` cannot)."""
    return all(getattr(reference, k) is None or getattr(reference, k) == getattr(current, k) for k in _SELECTORS)


def exclude_current(
    reference: RecordFilter, current: RecordFilter, *, specs: tuple[str, str] = ("", "")
) -> RecordFilter:
    """``reference`` without the records of ``current``, by time.

    When both can select the same records and their time ranges overlap, a reference that starts
    before the current window is cut to end where the current one starts (``last:14d`` vs
    ``last:1d`` compares the 13 days before the last day with the last day). A reference that
    starts inside or after the current window cannot be cut so: :class:`InvalidInputError` says
    why and how to choose the windows. ``specs`` are the two window specs, for the message.
    """
    if not _may_share_records(reference, current):
        return reference
    far_past, far_future = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    ref_start, ref_end = reference.since or far_past, reference.until or far_future
    cur_start, cur_end = current.since or far_past, current.until or far_future
    if ref_start >= cur_end or cur_start >= ref_end:
        return reference  # disjoint in time
    if ref_start < cur_start:
        return replace(reference, until=min(ref_end, cur_start))
    ref_text, cur_text = describe_window(reference), describe_window(current)
    ref_spec, cur_spec = specs[0] or ref_text, specs[1] or cur_text
    raise InvalidInputError(
        f"The reference window {ref_spec!r} ({ref_text}) does not start before the current window {cur_spec!r} "
        f"({cur_text}), so both "
        "would hold the same records and the comparison would find no drift. Choose a reference that starts earlier "
        "(e.g. reference last:14d with current last:1d: the reference then ends where the current window starts), "
        "or windows that select different records (version:v1 vs version:v2)."
    )


def drift_windows(reference: str, current: str) -> tuple[RecordFilter, RecordFilter]:
    """The filters of a drift comparison: both specs parsed, the reference cut to exclude the
    current window (:func:`exclude_current`)."""
    ref_f, cur_f = parse_window(reference), parse_window(current)
    return exclude_current(ref_f, cur_f, specs=(reference, current)), cur_f


def describe_window(f: RecordFilter) -> str:
    """A short human description of a filter (for verdicts and tables)."""
    parts = []
    if f.since or f.until:
        since = f.since.strftime("%Y-%m-%d %H:%M") if f.since else "…"
        until = f.until.strftime("%Y-%m-%d %H:%M") if f.until else "now"
        parts.append(f"{since} → {until} UTC")
    for label, value in (("model", f.model), ("version", f.model_version), ("template", f.template_version)):
        if value:
            parts.append(f"{label} {value}")
    if f.tag:
        parts.append(f"tag {f.tag}")
    return ", ".join(parts) or "all records"
