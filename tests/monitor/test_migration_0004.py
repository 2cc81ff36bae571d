"""Revision 0004 (trace ids on records) upgrades a populated 0003 database and downgrades back, on both dialects."""

from __future__ import annotations

from sqlalchemy import inspect, text

from pellucid.monitor import RecordFilter, Store
from tests.monitor.conftest import at

TRACE_COLUMNS = {"trace_id", "span_id", "parent_span_id"}


def _columns(store: Store) -> set[str]:
    return {c["name"] for c in inspect(store.engine).get_columns("records")}


def _indexes(store: Store) -> set[str]:
    return {str(i["name"]) for i in inspect(store.engine).get_indexes("records")}


def test_0003_database_upgrades_to_0004_and_back(db_url: str, make) -> None:
    with Store.open(db_url, upgrade=False) as store:
        store.upgrade("0003")
        assert not TRACE_COLUMNS & _columns(store)
        with store.engine.begin() as conn:  # a record as revision 0003 wrote it
            # the prompt column is JSONB on PostgreSQL (a string parameter must be cast), JSON text on SQLite
            prompt = "CAST(:prompt AS JSONB)" if store.engine.dialect.name == "postgresql" else ":prompt"
            conn.execute(
                text(
                    "INSERT INTO records (id, created_at, prompt, prompt_text, prompt_hash, response) "
                    f"VALUES (:id, :created_at, {prompt}, :prompt_text, :hash, :response)"
                ),
                {
                    "id": "0" * 32,
                    "created_at": at("2026-11-01 00:00"),
                    "prompt": '"old"',
                    "prompt_text": "old",
                    "hash": "h",
                    "response": "r",
                },
            )

        store.upgrade("0004")
        assert store.current_revision() == "0004"
        assert TRACE_COLUMNS <= _columns(store)
        assert {f"ix_records_{c}" for c in TRACE_COLUMNS} <= _indexes(store)
        [old] = store.repo.list_records(RecordFilter(), limit=10).items
        assert old.trace_id is None and old.response == "r"
        new = make(prompt="q", trace_id="ab" * 16, span_id="cd" * 8, parent_span_id="ef" * 8)
        store.repo.insert_records([new])
        [found] = store.repo.list_records(RecordFilter(trace_id="ab" * 16), limit=10).items
        assert (found.id, found.span_id, found.parent_span_id) == (new.id, "cd" * 8, "ef" * 8)

        store.downgrade("0003")
        assert not TRACE_COLUMNS & _columns(store)
        assert not {f"ix_records_{c}" for c in TRACE_COLUMNS} & _indexes(store)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM records")).scalar() == 2
