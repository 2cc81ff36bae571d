"""Revision 0002 (analytics tables) upgrades empty and populated 0001 databases, on both dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from pellucid.monitor import Store
from tests.monitor.conftest import at

NEW_TABLES = {"eval_runs", "eval_examples", "alert_rules", "alert_events", "drift_reports"}


def _insert_as_0001(store: Store, rows: list[Any]) -> None:
    """Insert records with only the columns revision 0001 has (the repository writes today's columns)."""
    from pellucid.monitor.db import Record
    from pellucid.monitor.repository import _row_of

    later = {"trace_id", "span_id", "parent_span_id"}  # added by 0004
    with store.engine.begin() as conn:
        conn.execute(Record.__table__.insert(), [{k: v for k, v in _row_of(r).items() if k not in later} for r in rows])


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_empty_database_upgrades_to_0002(db_url: str) -> None:
    with Store.open(db_url, upgrade=False) as store:
        assert store.current_revision() is None
        store.upgrade()
        assert store.current_revision() == Store.head_revision()  # 0002 and every later revision
        assert NEW_TABLES <= _tables(store)


def test_populated_0001_database_upgrades_and_keeps_records(db_url: str, make) -> None:
    with Store.open(db_url, upgrade=False) as store:
        store.upgrade("0001")
        assert store.current_revision() == "0001"
        assert not NEW_TABLES & _tables(store)
        rows = [make(prompt=f"q{i}", latency_ms=float(i), created_at=at("2026-11-01 00:00")) for i in range(5)]
        _insert_as_0001(store, rows)
        store.repo.add_feedback(rows[0].id, "thumbs_up")
        store.repo.add_metrics([(rows[1].id, "perplexity", 3.5)])

        store.upgrade("0002")
        assert store.current_revision() == "0002"
        assert store.repo.count() == 5
        store.upgrade()  # reading whole records needs the columns of later revisions (0004: trace ids)
        assert store.repo.get_record(rows[1].id).metrics == {"perplexity": 3.5}
        assert [f.kind for f in store.repo.get_record(rows[0].id).feedback] == ["thumbs_up"]
        # the new tables work on the upgraded database
        rule = store.alerts.add_alert_rule(
            {
                "name": "r",
                "condition": "mean(latency_ms) > 1",
                "metric": "mean(latency_ms)",
                "operator": ">",
                "threshold": 1.0,
                "window_seconds": 3600,
                "action": "none",
            }
        )
        assert store.alerts.get_alert_rule("r").id == rule.id

        store.downgrade("0001")  # and back: only the analytics tables go
        assert not NEW_TABLES & _tables(store)
        assert store.repo.count() == 5
