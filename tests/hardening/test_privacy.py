"""Privacy: purge really deletes (every table, both databases, and SQLite's files); no prompts in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from typer.testing import CliRunner

from pellucid.monitor import NewRecord, Store
from tests.monitor.conftest import at, db_url  # noqa: F401

MARKER = "zebra-marker-7731"


def _rows_mentioning(store: Store, needle: str) -> dict[str, int]:
    """Rows of every table whose text (any column) contains ``needle``."""
    found: dict[str, int] = {}
    with store.engine.connect() as conn:
        for table in sa_inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            hits = sum(1 for row in rows if needle in repr(tuple(row)))
            if hits:
                found[table] = hits
    return found


def _table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        names = [t for t in sa_inspect(conn).get_table_names() if t != "alembic_version"]
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in names}


def _seed(store: Store) -> tuple[NewRecord, NewRecord]:
    mine = NewRecord(prompt=f"my secret {MARKER}", response=f"answer {MARKER}", user_id="u-gone", tags=[MARKER])
    theirs = NewRecord(prompt="other prompt", response="other answer", user_id="u-stays", tags=["keep"])
    store.repo.insert_records([mine, theirs])
    store.repo.add_feedback(mine.id, "comment", comment=f"feedback {MARKER}")
    store.repo.add_feedback(theirs.id, "comment", comment=f"given by the purged user {MARKER}", user_id="u-gone")
    store.repo.add_feedback(theirs.id, "thumbs_up", user_id="u-other")
    store.repo.add_metrics([(mine.id, "perplexity", 3.0), (theirs.id, "perplexity", 4.0)])
    store.repo.add_embeddings([(mine.id, "prompt", "enc", [1.0, 2.0]), (theirs.id, "prompt", "enc", [3.0, 4.0])])
    return mine, theirs


def _purge_cli(url: str, *args: str) -> str:
    from pellucid.cli.main import app

    result = CliRunner().invoke(app, ["monitor", "purge", *args], env={"PELLUCID_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def test_purge_by_user_deletes_from_every_table(db_url):  # noqa: F811
    with Store.open(db_url) as store:
        _seed(store)
        before = _table_counts(store)
        assert _rows_mentioning(store, MARKER) == {"records": 1, "record_tags": 1, "feedback": 2}
    assert "Deleted 1 records" in _purge_cli(db_url, "--user-id", "u-gone")
    with Store.open(db_url) as store:
        after = _table_counts(store)
        assert _rows_mentioning(store, MARKER) == {}
        assert _rows_mentioning(store, "u-gone") == {}
        deltas = {t: before[t] - after[t] for t in before if before[t] != after[t]}
        assert deltas == {"records": 1, "record_tags": 1, "feedback": 2, "metrics": 1, "embeddings": 1}
        assert store.repo.count() == 1 and after["feedback"] == 1


def test_purge_before_a_date(db_url):  # noqa: F811
    with Store.open(db_url) as store:
        old = [
            NewRecord(prompt=f"old {i}", response="r", created_at=at("2025-01-01 00:00"), tags=["x"]) for i in range(3)
        ]
        new = [NewRecord(prompt="new", response="r", created_at=at("2026-01-01 00:00"), tags=["x"])]
        store.repo.insert_records(old + new)
        store.repo.add_metrics([(r.id, "m", 1.0) for r in old + new])
        store.repo.add_embeddings([(r.id, "prompt", "enc", [1.0]) for r in old + new])
    assert "Deleted 3 records" in _purge_cli(db_url, "--before", "2025-06-01")
    with Store.open(db_url) as store:
        counts = _table_counts(store)
        assert (counts["records"], counts["record_tags"], counts["metrics"], counts["embeddings"]) == (1, 1, 1, 1)


def test_purge_refuses_without_criteria_and_bad_dates(tmp_path):
    from pellucid.cli.main import app

    url = f"sqlite:///{tmp_path / 'p.db'}"
    env = {"PELLUCID_DATABASE_URL": url}
    assert CliRunner().invoke(app, ["monitor", "purge"], env=env).exit_code != 0
    bad = CliRunner().invoke(app, ["monitor", "purge", "--before", "yesterday"], env=env)
    assert bad.exit_code != 0 and "not a date" in bad.output


def test_sqlite_purge_leaves_no_text_in_the_files(tmp_path):
    path = tmp_path / "secure.db"
    with Store.open(f"sqlite:///{path}") as store:
        _seed(store)
        store.repo.insert_records([NewRecord(prompt="padding " * 50, response="x") for _ in range(50)])
        assert store.repo.purge(user_id="u-gone") == 1
    files = [p for p in tmp_path.iterdir() if p.name.startswith("secure.db")]
    leaks = [p.name for p in files if MARKER.encode() in p.read_bytes()]
    assert leaks == []


# -- logs ----------------------------------------------------------------------------------
SECRET = "Tell me about PatientRecord-554433 and card 4111111111111111"


def test_no_prompt_text_in_server_logs(hardened, caplog, monkeypatch):
    caplog.set_level(logging.INFO)  # stricter than the server's default (warning)
    gw = hardened(max_prompt_chars=500)
    calls = [
        lambda: gw.chat(SECRET, max_tokens=2),  # success
        lambda: gw.chat(SECRET, stream=True, max_tokens=2),  # stream
        lambda: gw.chat(SECRET, model="no-such-model"),  # 404
        lambda: gw.chat(SECRET, temperature=7),  # validation error
        lambda: gw.chat(SECRET * 20),  # prompt too long
        lambda: gw.client.post("/v1/chat/completions", content=SECRET.encode()),  # not JSON
        lambda: gw.client.post("/v1/completions", json={"prompt": SECRET, "max_tokens": 2}),
        lambda: gw.client.post("/api/generate", json={"prompt": SECRET, "max_new_tokens": 2}),
    ]
    for call in calls:
        assert call().status_code < 500
    lm = gw.app.state.pellucid.models.get()

    def boom(*args, **kwargs):
        raise RuntimeError("generation crashed")

    from pellucid.models.batching import BatchEngine

    monkeypatch.setattr(lm, "stream", boom)  # a thread per request (--batching off)
    monkeypatch.setattr(BatchEngine, "stream", boom)  # the batching engine (the default)
    assert gw.chat(SECRET).status_code == 500  # unexpected error path: logged with a traceback
    gw.flush()
    assert any(r.levelno >= logging.ERROR for r in caplog.records)  # the bug was reported...
    assert "PatientRecord-554433" not in caplog.text  # ...without the prompt
    assert "4111111111111111" not in caplog.text


def test_redaction_covers_prompt_response_error_and_metadata(hardened):
    gw = hardened(redact_pii=True)
    monitor = gw.app.state.pellucid.monitor
    monitor.log(
        [{"role": "user", "content": "mail bob@example.com"}],
        "call +44 20 7946 0958",
        error="failed for 4111 1111 1111 1111",
        user_id="u1",
    )
    [record] = gw.records()
    dumped = repr(record.to_dict())
    assert "bob@example.com" not in dumped and "7946 0958" not in dumped
    assert record.response == "call [PHONE]"
    assert record.redaction["prompt"] == {"EMAIL": 1}


def test_database_errors_are_logged_without_sql_parameters():
    from sqlalchemy.exc import IntegrityError

    from pellucid.monitor.writer import describe_error

    error = IntegrityError("INSERT INTO records (prompt) VALUES (?)", (SECRET,), Exception("UNIQUE constraint failed"))
    assert SECRET not in str(describe_error(error)) and "UNIQUE constraint failed" in describe_error(error)
    assert SECRET in str(error)  # what the writer used to log


@pytest.mark.parametrize("message", ["disk I/O error", "database or disk is full"])
def test_disk_errors_get_a_hint(message):
    from sqlalchemy.exc import OperationalError

    from pellucid.monitor.writer import describe_error

    assert "is the disk full" in describe_error(OperationalError("INSERT", (), Exception(message)))


def test_pii_redaction_leaves_path_to_files(tmp_path: Path):
    """Smoke: the redactor used for storage is the audited one."""
    from pellucid.audit.pii import redact

    assert redact("bob@example.com")[0] == "[EMAIL]"
