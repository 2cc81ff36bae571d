"""Faults: a crash mid-burst, back-pressure, PostgreSQL connection loss, a full disk.

- SIGKILL during a burst of writes: what clients saw acknowledged vs what is stored. Only the
  documented window may be lost (records still in the writer's queue: normally well under a
  second of traffic), the SQLite file passes ``integrity_check`` and reopens.
- A full writer queue answers 429 with ``Retry-After`` and an OpenAI-shaped error, and loses
  nothing it accepted.
- PostgreSQL: the backend is terminated (``pg_terminate_backend``) in the middle of a batch; the
  writer retries and every record is stored once.
- A full disk (``RLIMIT_FSIZE`` in a subprocess) gives a clear error, back-pressure, and no loss
  once space is back.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from typing import Any

import pytest
from sqlalchemy import event, text

from pellucid.monitor import BatchWriter, NewRecord, Store
from tests.hardening.harness import REPO, Server, run_load, sqlite_integrity, stored
from tests.monitor.conftest import db_url  # noqa: F401

#: acknowledged records older than this at the kill must all be stored (the documented window is
#: the writer's flush interval, 0.25 s, plus one batch write; this bound is generous for a busy CI)
SAFE_AGE_S = 5.0


@pytest.mark.slow
def test_sigkill_mid_burst_loses_only_the_queue_window(tiny_dir, tmp_path):
    db = tmp_path / "crash.db"
    server = Server(tiny_dir, f"sqlite:///{db}", tmp_path / "home")
    server.wait_ready()
    killer = threading.Timer(6.0, server.kill)
    killer.start()
    try:
        result = run_load(server.url, clients=20, seconds=8)
    finally:
        killer.join()
        server.stop()
    killed_at = result.started + 6.0
    ids, _ = stored(f"sqlite:///{db}")
    lost = set(result.acked) - set(ids)
    window = max((killed_at - result.acked[i] for i in lost), default=0.0)
    print(
        f"\ncrash: acknowledged {len(result.acked)}, stored {len(ids)}, lost {len(lost)}, "
        f"oldest lost {window:.2f}s before kill"
    )
    assert len(result.acked) > 20
    assert len(ids) == len(set(ids))
    assert all(killed_at - result.acked[i] < SAFE_AGE_S for i in lost)
    assert sqlite_integrity(db) == "ok"
    with Store.open(f"sqlite:///{db}") as store:  # reopens (WAL replayed), migrations a no-op
        assert store.repo.count() == len(ids)


def test_full_queue_answers_429_with_retry_after_and_loses_nothing(hardened):
    gw = hardened()
    writer = gw.app.state.pellucid.monitor.writer
    gate = threading.Event()
    real_insert = writer.repo.insert_records

    def slow_insert(batch: Any) -> int:
        gate.wait(30)
        return real_insert(batch)

    writer.repo.insert_records = slow_insert  # the database "stalls"
    writer.max_queue = 3
    try:
        codes = [gw.chat(f"call {i}", max_tokens=1).status_code for i in range(8)]
        refused = gw.chat("one more", max_tokens=1)
    finally:
        gate.set()
    assert codes.count(200) >= 3 and 429 in codes
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    records = gw.records()
    assert len(records) == codes.count(200)  # accepted: all stored; refused: none logged
    assert {r.prompt[0]["content"] for r in records} == {f"call {i}" for i, c in enumerate(codes) if c == 200}


def test_postgres_connection_killed_mid_batch_is_retried_without_duplicates(db_url, caplog):  # noqa: F811
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    caplog.set_level(logging.WARNING, logger="pellucid.monitor.writer")
    store = Store.open(db_url)
    admin = Store.open(db_url, upgrade=False)
    records = [NewRecord(prompt=f"pg {i}", response="r", tags=["a", "b"], user_id="u") for i in range(40)]
    store.repo.insert_records(records[:10])  # as if an earlier attempt had committed these
    killed: list[int] = []

    @event.listens_for(store.engine, "after_cursor_execute")
    def _kill_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO records") and not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.engine.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    writer = BatchWriter(store.repo, batch_size=40, flush_interval=0.05)
    try:
        for r in records:
            writer.put(r)
        assert writer.flush(timeout=60)
        stats = writer.stats()
    finally:
        writer.close()
    try:
        assert killed  # the backend really was terminated mid-batch
        assert "terminat" in (stats.last_error or "").lower() or "closed the connection" in (stats.last_error or "")
        assert "retrying" in caplog.text and "pg 1" not in caplog.text  # logged without the SQL parameters
        with store.engine.connect() as conn:
            n_records = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT prompt_text) FROM records")).one()
            n_tags = conn.execute(text("SELECT COUNT(*) FROM record_tags")).scalar_one()
        assert tuple(n_records) == (40, 40) and n_tags == 80
        assert (stats.written, stats.duplicates, stats.failed, stats.lost) == (30, 10, 0, 0)
    finally:
        store.close()
        admin.close()


_DISK_FULL = r"""
import json, os, resource, signal, sys
from pellucid.monitor import BatchWriter, NewRecord, Store
from pellucid.monitor.errors import StoreBusyError
path = sys.argv[1]
store = Store.open(f"sqlite:///{path}")
store.repo.insert_records([NewRecord(prompt="warm-up", response="r")])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
used = sum(os.path.getsize(path + s) for s in ("", "-wal", "-shm") if os.path.exists(path + s))
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (used + 16_384, hard))
writer = BatchWriter(store.repo, batch_size=5, max_queue=20, flush_interval=0.05, max_backoff=0.2)
accepted, busy = 0, None
for i in range(5000):
    try:
        writer.put(NewRecord(prompt=f"{i} " + "x" * 4000, response="r"), timeout=3)
        accepted += 1
    except StoreBusyError as exc:
        busy = str(exc)
        break
stalled = writer.stats()
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is back
flushed = writer.flush(timeout=60)
writer.close()
print(json.dumps({"accepted": accepted, "busy": busy, "error": stalled.last_error, "flushed": flushed,
                  "written": writer.stats().written, "count": store.repo.count()}))
"""


def test_full_disk_gives_a_clear_error_and_back_pressure(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(tmp_path / "full.db")],
        capture_output=True, text=True, timeout=180, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\ndisk full: {report}")
    assert "disk I/O error" in report["error"] and "is the disk full" in report["error"]
    assert report["busy"] and "queue is full" in report["busy"] and "is the disk full" in report["busy"]
    assert report["accepted"] < 5000  # back-pressure started
    assert report["flushed"] and report["count"] == report["accepted"] + 1  # nothing accepted was lost
