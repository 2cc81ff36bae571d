"""Window specs → RecordFilter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor.windows import describe_window, parse_duration, parse_window

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_date_range_includes_the_whole_last_day() -> None:
    f = parse_window("2026-11-01..2026-11-15")
    assert f.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert f.until == datetime(2026, 11, 16, tzinfo=UTC)
    f = parse_window("2026-11-01T08:00..2026-11-01T12:30")
    assert (f.since.hour, f.until.hour, f.until.minute) == (8, 12, 30)
    assert parse_window("2026-11-01..").until is None


def test_last_version_tag_and_combinations() -> None:
    f = parse_window("last:7d", now=NOW)
    assert (f.since, f.until) == (NOW - timedelta(days=7), NOW)
    f = parse_window("version:v2, tag:canary, last:90m", now=NOW)
    assert (f.model_version, f.tag, f.since) == ("v2", "canary", NOW - timedelta(minutes=90))
    assert parse_window("model:smollm").model == "smollm"
    assert "version v2" in describe_window(f) and describe_window(parse_window("tag:x")) == "tag x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "Empty window spec"),
        ("last:7x", "unit"),
        ("colour:red", "Unknown window kind 'colour'"),
        ("2026-13-01..2026-11-02", "Invalid date"),
        ("2026-11-05..2026-11-01", "after until"),
        ("version:", "Invalid window spec part"),
    ],
)
def test_bad_specs_say_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_window(spec)


def test_durations() -> None:
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(InvalidInputError):
        parse_duration("0s")


def test_a_reference_that_contains_the_current_window_ends_where_it_starts() -> None:
    from pellucid.monitor.windows import exclude_current

    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    ref, cur = parse_window("last:14d", now=now), parse_window("last:1d", now=now)
    cut = exclude_current(ref, cur)
    assert cut.since == now - timedelta(days=14) and cut.until == now - timedelta(days=1) == cur.since
    # windows that select different records, or do not overlap in time, are left alone
    v1, v2 = parse_window("version:v1,last:14d", now=now), parse_window("version:v2,last:1d", now=now)
    assert exclude_current(v1, v2) == v1
    old = parse_window("2026-11-01..2026-11-10")
    assert exclude_current(old, cur) == old


def test_a_reference_that_starts_inside_the_current_window_is_refused() -> None:
    from pellucid.monitor.windows import exclude_current

    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    ref, cur = parse_window("last:1d", now=now), parse_window("last:14d", now=now)
    with pytest.raises(
        InvalidInputError, match=r"does not start before the current window 'last:14d'.*last:14d with current last:1d"
    ):
        exclude_current(ref, cur, specs=("last:1d", "last:14d"))
