"""The logging SDK end to end: log/trace, concurrency, draining on close, the default monitor."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time

import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import Monitor, Preparer, RecordFilter, Store, StoreClosedError, make_record, sdk
from pellucid.monitor.writer import BatchWriter


def test_one_log_call_is_one_record_with_every_field(store: Store) -> None:
    monitor = Monitor(store, model="smollm2-135m-instruct", model_version="v7", tags=["prod"])
    record_id = monitor.log(
        [{"role": "user", "content": "What is the capital of France? Please answer in one word."}],
        "Paris is the capital of France, and it is the answer to the question.",
        template_version="t1",
        latency_ms=250,
        ttft_ms=30.5,
        prompt_tokens=41,
        completion_tokens=12,
        params={"temperature": 0.0, "max_tokens": 32},
        user_id="alice",
        session_id="sess-1",
        tags=["eu"],
        cache_hit=False,
        cache_key="abc",
        ticket=99,  # not a field: goes to metadata
        metadata={"app": "demo"},
    )
    assert monitor.flush(timeout=10)
    assert store.repo.count() == 1
    got = store.repo.get_record(record_id)
    assert got.model == "smollm2-135m-instruct" and got.model_version == "v7" and got.template_version == "t1"
    assert got.prompt == [{"role": "user", "content": "What is the capital of France? Please answer in one word."}]
    assert got.response.startswith("Paris")
    assert (got.latency_ms, got.ttft_ms, got.prompt_tokens, got.completion_tokens) == (250.0, 30.5, 41, 12)
    assert got.params == {"temperature": 0.0, "max_tokens": 32}
    assert (got.user_id, got.session_id, got.cache_hit, got.cache_key) == ("alice", "sess-1", False, "abc")
    assert got.tags == ("eu", "prod")
    assert got.metadata == {"app": "demo", "ticket": 99}
    assert got.flags == {} and got.language == "en"
    assert got.error is None and got.redaction is None
    stats = monitor.stats()
    assert (stats.accepted, stats.written, stats.duplicates, stats.failed) == (1, 1, 0, 0)
    monitor.close()


def test_trace_times_the_call_and_records_errors(store: Store) -> None:
    monitor = Monitor(store, model="m")
    with monitor.trace("Tell me a joke", user_id="bob") as t:
        time.sleep(0.02)
        t.first_token()
        time.sleep(0.01)
        t.set(response="Why did...", completion_tokens=3)
    with pytest.raises(ZeroDivisionError):
        with monitor.trace("Divide") as failing:
            1 / 0  # noqa: B018
    monitor.close()
    ok = store.repo.get_record(t.id)
    assert ok.response == "Why did..." and ok.completion_tokens == 3 and ok.user_id == "bob"
    assert ok.latency_ms >= 30 and 20 <= ok.ttft_ms < ok.latency_ms
    bad = store.repo.get_record(failing.id)
    assert bad.response is None and bad.error == "ZeroDivisionError: division by zero"
    assert store.repo.metric_values("error").tolist() == [0.0, 1.0]


def test_async_trace(store: Store) -> None:
    monitor = Monitor(store)

    async def call() -> str:
        async with monitor.trace("hi") as t:
            await asyncio.sleep(0.01)
            t.response = "hello"
        return t.id

    record_id = asyncio.run(call())
    monitor.close()
    assert store.repo.get_record(record_id).latency_ms >= 10


def test_many_concurrent_writers_lose_and_duplicate_nothing(store: Store) -> None:
    monitor = Monitor(store, model="m")
    threads, per_thread = 64, 40
    ids: list[list[str]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            ids[n].append(monitor.log(f"thread {n} call {i}", "ok", user_id=f"u{n}", timeout=30))

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    monitor.close()
    all_ids = [i for chunk in ids for i in chunk]
    assert len(set(all_ids)) == threads * per_thread
    assert store.repo.count() == threads * per_thread
    stored = {r.id for r in store.repo.list_records(RecordFilter(user_id="u7"), limit=100).items}
    assert stored == set(ids[7])


def test_replicas_writing_to_one_database(db_url: str) -> None:
    """Several monitors (as separate gateway replicas would have) write concurrently."""
    monitors = [Monitor.open(db_url, batch_size=50, flush_interval=0.01) for _ in range(4)]

    def work(monitor: Monitor, n: int) -> None:
        for i in range(50):
            monitor.log(f"replica call {n}-{i}", "ok", timeout=30)

    pool = [threading.Thread(target=work, args=(m, n)) for n in range(13) for m in monitors]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for m in monitors:
        m.close()
    with Store.open(db_url) as store:
        assert store.repo.count() == 4 * 13 * 50


def test_close_drains_the_queue(db_url: str) -> None:
    monitor = Monitor.open(db_url, batch_size=10_000, flush_interval=3600, max_queue=10_000)
    for i in range(1500):
        monitor.log(f"call {i}", "ok")
    assert monitor.stats().queued == 1500  # nothing written yet: the interval is an hour
    monitor.close()
    with Store.open(db_url) as store:
        assert store.repo.count() == 1500
    with pytest.raises(StoreClosedError):
        monitor.log("late", "x")
    monitor.close()  # twice is fine


def test_redaction_is_applied_and_recorded(store: Store) -> None:
    def redact(text: str) -> tuple[str, dict[str, int]]:
        out, n = re.subn(r"\S+@\S+", "<EMAIL>", text)
        return out, {"EMAIL": n} if n else {}

    writer = BatchWriter(store.repo, prepare=Preparer(redactor=redact))
    monitor = Monitor(store, writer=writer)
    rid = monitor.log([{"role": "user", "content": "mail me at a@b.example"}], "sent to a@b.example")
    monitor.close()
    got = store.repo.get_record(rid)
    assert got.prompt == [{"role": "user", "content": "mail me at <EMAIL>"}]
    assert got.response == "sent to <EMAIL>"
    assert got.redaction == {"applied": True, "prompt": {"EMAIL": 1}, "response": {"EMAIL": 1}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": 42}, "prompt must be"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"prompt_tokens": 1.5}, "prompt_tokens"),
        ({"tags": [""]}, "tags"),
        ({"params": [1]}, "params must be a dict"),
        ({"id": "xyz"}, "not a record id"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"response": 3}, "response must be"),
        ({"user_id": 5}, "user_id"),
        ({"cache_key": "k" * 129}, "at most 128"),
        ({"cache_hit": "yes"}, "cache_hit"),
    ],
)
def test_make_record_rejects_bad_values(kwargs: dict, message: str) -> None:
    args = {"prompt": "hi", "response": "ok"} | kwargs
    with pytest.raises(InvalidInputError, match=message):
        make_record(**args)


def test_default_monitor_is_lazy_and_closed_by_shutdown(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PELLUCID_DATABASE_URL", raising=False)
    sdk.shutdown()
    assert sdk._default is None
    rid = sdk.log("hello", "world", model="m")
    assert sdk.get_monitor().store.dialect == "sqlite"
    assert sdk._atexit_registered
    assert sdk.flush(timeout=10)
    sdk.shutdown()
    assert sdk._default is None
    with Store.open(f"sqlite:///{tmp_path / 'home' / 'pellucid.db'}") as store:
        assert store.repo.get_record(rid).response == "world"
    monitor = sdk.configure(f"sqlite:///{tmp_path / 'other.db'}", model="configured")
    with sdk.trace("q") as t:
        t.response = "a"
    sdk.shutdown()
    assert monitor.writer.stats().written == 1


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, threading, atexit\n"
        "import pellucid.monitor as m\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert m.sdk._default is None and not m.sdk._atexit_registered\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_failed_redaction_never_stores_the_raw_text(store: Store) -> None:
    def broken(text: str) -> tuple[str, dict[str, int]]:
        raise RuntimeError("detector crashed")

    monitor = Monitor(store, writer=BatchWriter(store.repo, prepare=Preparer(redactor=broken)))
    rid = monitor.log("my card is 4111 1111 1111 1111", "noted: 4111 1111 1111 1111")
    monitor.close()
    got = store.repo.get_record(rid)
    assert "4111" not in got.prompt_text and got.response is None
    assert got.redaction == {"applied": False, "error": "RuntimeError: detector crashed"}
    assert "redaction_failed" in got.flags


def _child(code: str, url: str) -> int:
    script = "import os, sys\nfrom pellucid import monitor\nurl = sys.argv[1]\n" + code
    return subprocess.run([sys.executable, "-c", script, url], timeout=120).returncode


def test_interpreter_exit_drains_the_default_monitor(db_url: str) -> None:
    """No close() in the program: the atexit hook writes what is queued."""
    code = (
        "monitor.configure(url, flush_interval=3600, batch_size=10000)\n"
        "for i in range(700):\n"
        "    monitor.log(f'call {i}', 'ok')\n"
    )
    assert _child(code, db_url) == 0
    with Store.open(db_url) as store:
        assert store.repo.count() == 700


def test_a_crash_loses_at_most_the_unflushed_queue(db_url: str) -> None:
    """Flushed records survive a hard kill; the queued ones are the documented loss."""
    code = (
        "m = monitor.configure(url, flush_interval=3600, batch_size=10000)\n"
        "for i in range(300):\n"
        "    monitor.log(f'kept {i}', 'ok')\n"
        "assert monitor.flush(timeout=60)\n"
        "for i in range(200):\n"
        "    monitor.log(f'queued {i}', 'ok')\n"
        "os._exit(3)  # no atexit, no close\n"
    )
    assert _child(code, db_url) == 3
    with Store.open(db_url) as store:
        assert store.repo.count(RecordFilter(text="kept")) == 300
        assert store.repo.count() <= 500
