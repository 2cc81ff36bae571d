"""Opening the store: connection errors, SQLite settings, migrations on empty and populated databases."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from pellucid.errors import PellucidError
from pellucid.monitor import Store, StoreConnectionError, StoreError, redact_url
from pellucid.monitor.db import Base


def test_open_migrates_to_head(store: Store) -> None:
    assert store.current_revision() == Store.head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"records", "record_tags", "feedback", "metrics", "embeddings", "alembic_version"} <= tables


def test_models_and_migrations_agree(store: Store) -> None:
    """The shipped migrations build exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_reopen_populated_database_keeps_data(db_url: str, make) -> None:
    """Upgrading a database that already holds records (and tables of its own) changes nothing."""
    with Store.open(db_url) as first:
        with first.engine.begin() as conn:
            conn.execute(text("CREATE TABLE app_users (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
            conn.execute(text("INSERT INTO app_users VALUES (1, 'ada')"))
        first.repo.insert_records([make(tags=["t"]) for _ in range(5)])
    with Store.open(db_url) as second:
        assert second.current_revision() == Store.head_revision()
        assert second.repo.count() == 5
        with second.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM app_users")).scalar_one() == "ada"


def test_downgrade_then_upgrade_round_trip(store: Store, make) -> None:
    store.repo.insert_records([make()])
    store.downgrade("base")
    assert store.current_revision() is None
    assert "records" not in inspect(store.engine).get_table_names()
    store.upgrade()
    assert store.current_revision() == Store.head_revision()
    assert store.repo.count() == 0


def test_open_without_upgrade_on_empty_database(db_url: str) -> None:
    with Store.open(db_url, upgrade=False) as store:
        assert store.current_revision() is None
        store.upgrade()
        assert store.current_revision() == Store.head_revision()


def test_replicas_opening_together_migrate_once(db_url: str) -> None:
    """Several processes' worth of Store.open on one fresh database all succeed."""
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            Store.open(db_url).close()
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store.open(db_url) as store:
        assert store.current_revision() == Store.head_revision()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_default_url_lives_in_the_home(settings) -> None:
    with Store.open(settings=settings) as store:
        assert store.dialect == "sqlite"
    assert (settings.home / "pellucid.db").is_file()


def test_in_memory_sqlite_is_shared_across_threads(make) -> None:
    with Store.open("sqlite://") as store:
        thread = threading.Thread(target=store.repo.insert_records, args=([make()],))
        thread.start()
        thread.join()
        assert store.repo.count() == 1


def test_unreachable_postgres_hides_password() -> None:
    url = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/pellucid"
    with pytest.raises(StoreConnectionError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "alice:***@127.0.0.1:1/pellucid" in message
    assert "refused" in message.lower() or "failed" in message.lower()
    assert isinstance(caught.value, PellucidError)


def test_plain_postgres_scheme_uses_psycopg() -> None:
    with pytest.raises(StoreConnectionError) as caught:
        Store.open("postgres://bob:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(caught.value)
    assert "no driver" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:topsecret@localhost/db", "not supported"),
        ("postgresql+nodriver://u:topsecret@localhost/db", "no driver"),
    ],
)
def test_bad_urls_are_named_without_password(url: str, expected: str) -> None:
    with pytest.raises(StoreConnectionError) as caught:
        Store.open(url)
    assert expected in str(caught.value)
    assert "topsecret" not in str(caught.value)


def test_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreConnectionError) as caught:
        Store.open(f"sqlite:///{tmp_path}")
    assert str(tmp_path) in str(caught.value)


def test_redact_url_handles_unparseable_strings() -> None:
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert "pw" not in redact_url("weird://u:pw@h:notaport/db")


def test_store_tables_are_not_created_by_metadata(tmp_path: Path) -> None:
    """Only migrations create the schema: a plain engine sees nothing until Store.open."""
    path = tmp_path / "m.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect():
        pass
    assert inspect(engine).get_table_names() == []
    Store.open(f"sqlite:///{path}").close()
    assert "records" in inspect(engine).get_table_names()
    engine.dispose()


def test_database_from_a_newer_pellucid_is_refused(db_url: str) -> None:
    with Store.open(db_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer Pellucid"):
        Store.open(db_url)
