"""The durable-mode journal: group commit, exactly-once replay, damaged tails, a real SIGKILL."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pellucid.monitor import NewRecord, Store, StoreClosedError
from pellucid.monitor.durable import durable_monitor, journal_folder
from pellucid.monitor.journal import Journal, JournalError
from pellucid.monitor.journal_format import HEADER_SIZE, decode_record, encode_record, read_segment
from pellucid.monitor.journal_replay import replay
from tests.monitor.conftest import db_url  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def records(n: int, tag: str = "r") -> list[NewRecord]:
    return [NewRecord(prompt=f"{tag} prompt {i}", response=f"answer {i}", model="m", tags=[tag]) for i in range(n)]


def abandon(journal: Journal) -> None:
    """What SIGKILL does to a journal: its descriptors close (the lock goes), its files stay."""
    for fd in (journal._fd, journal._lock_fd):
        if fd is not None:
            os.close(fd)
    journal._fd = journal._lock_fd = None
    journal._closed = True


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.seg"))


def test_a_record_round_trips_through_its_frame():
    record = NewRecord(
        prompt=[{"role": "user", "content": "héllo \u2603"}],
        response="ok",
        params={"temperature": 0.0},
        metadata={"gateway": {"status": 200}},
        flags={"short_prompt": "2 words"},
        tags=["a", "b"],
        latency_ms=12.5,
    )
    back = decode_record(encode_record(record))
    assert back == record


def test_concurrent_appends_share_syncs_and_return_only_once_synced(tmp_path):
    synced_size: dict[str, int] = {"bytes": 0}
    calls = []

    def slow_sync(fd: int) -> None:
        time.sleep(0.003)  # a disk flush takes milliseconds: appends pile up meanwhile
        synced_size["bytes"] = os.fstat(fd).st_size
        calls.append(fd)

    journal = Journal(tmp_path / "j", sync=slow_sync)
    not_durable: list[str] = []

    def worker(k: int) -> None:
        for record in records(25, tag=f"t{k}"):
            journal.append(record)
            seg = segments(tmp_path / "j")[-1]
            durable = seg.read_bytes()[: synced_size["bytes"]]
            if record.id.encode() not in durable:
                not_durable.append(record.id)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = journal.stats()
    assert stats.appended == 400
    assert stats.syncs == len(calls)
    assert stats.syncs < 400 / 3  # many appends per sync
    assert not_durable == []
    assert len(read_segment(segments(tmp_path / "j")[0]).records) == 400
    journal.close()


def test_a_commit_window_groups_sequential_bursts(tmp_path):
    calls = []
    journal = Journal(tmp_path / "j", commit_window=0.02, sync=calls.append)
    threads = [threading.Thread(target=journal.append, args=(r,)) for r in records(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.stats().appended == 10
    assert len(calls) <= 3  # ten appends started together: one or two windows, not ten syncs
    journal.close()


def test_replay_writes_each_record_exactly_once(tmp_path, db_url):  # noqa: F811
    folder = tmp_path / "j"
    journal = Journal(folder)
    batch = records(30)
    for record in batch:
        journal.append(record)
    abandon(journal)
    saved = tmp_path / "copy"
    shutil.copytree(folder, saved)
    with Store.open(db_url) as store:
        store.repo.insert_records(batch[:10])  # the writer had committed these before the crash
        first = replay(folder, store.repo)
        assert (first.runs, first.records, first.inserted, first.already_stored) == (1, 30, 20, 10)
        assert store.repo.count() == 30
        assert segments(folder) == [] and list(folder.glob("*.lock")) == []
        again = replay(folder, store.repo)
        assert (again.records, again.inserted) == (0, 0)
        shutil.rmtree(folder)
        shutil.copytree(saved, folder)  # a crash after the inserts, before the files were deleted
        third = replay(folder, store.repo)
        assert (third.records, third.inserted, third.already_stored) == (30, 0, 30)
        assert store.repo.count() == 30
        stored = {r.id: r for r in store.repo.list_records(limit=100).items}
        assert {str(r.id) for r in batch} == {str(k) for k in stored}
        assert stored[batch[5].id].prompt == "r prompt 5"


def _journal_of(tmp_path: Path, n: int) -> tuple[Path, list[NewRecord], list[int]]:
    """A crashed run of ``n`` records, and where each frame starts in its segment."""
    folder = tmp_path / "j"
    journal = Journal(folder)
    batch = records(n)
    starts = []
    for record in batch:
        starts.append(journal._size)
        journal.append(record)
    abandon(journal)
    return folder, batch, starts


def test_a_torn_tail_is_skipped_with_a_warning_and_the_good_records_replayed(tmp_path, caplog):
    folder, batch, starts = _journal_of(tmp_path, 5)
    seg = segments(folder)[0]
    data = seg.read_bytes()
    seg.write_bytes(data[: starts[4] + HEADER_SIZE + 7])  # the crash cut the last frame's payload
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store, caplog.at_level(logging.WARNING):
        report = replay(folder, store.repo)
        assert (report.records, report.inserted, report.corrupt_frames) == (4, 4, 0)
        assert report.torn_bytes == HEADER_SIZE + 7
        assert {r.id for r in store.repo.list_records(limit=10).items} == {r.id for r in batch[:4]}
    assert "torn write" in caplog.text and seg.name in caplog.text


def test_a_bad_crc_skips_only_that_frame(tmp_path, caplog):
    folder, batch, starts = _journal_of(tmp_path, 5)
    seg = segments(folder)[0]
    data = bytearray(seg.read_bytes())
    data[starts[1] + 9] ^= 0xFF  # a byte of frame 2's CRC
    data += b"\0" * 4096  # and space the file system allocated but never filled
    seg.write_bytes(bytes(data))
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store, caplog.at_level(logging.WARNING):
        report = replay(folder, store.repo)
        assert (report.records, report.inserted, report.corrupt_frames) == (4, 4, 1)
        assert report.torn_bytes == 4096
        stored = {r.id for r in store.repo.list_records(limit=10).items}
    assert stored == {batch[i].id for i in (0, 2, 3, 4)}
    assert "corrupt frame" in caplog.text and "CRC mismatch" in caplog.text


def test_garbage_and_a_flipped_payload_byte_never_crash(tmp_path):
    folder, batch, starts = _journal_of(tmp_path, 3)
    seg = segments(folder)[0]
    data = bytearray(b"garbage that is not a frame" + seg.read_bytes())
    data[27 + starts[2] + HEADER_SIZE + 3] ^= 0x01  # a payload byte of the last frame
    seg.write_bytes(bytes(data))
    read = read_segment(seg)
    assert [r.id for r in read.records] == [batch[0].id, batch[1].id]
    assert read.corrupt_frames == 2 and read.torn_bytes == 0


def test_a_live_run_is_never_replayed(tmp_path):
    folder = tmp_path / "j"
    live = Journal(folder)
    live.append(records(1)[0])
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        report = replay(folder, store.repo)
        assert (report.live_runs, report.records, store.repo.count()) == (1, 0, 0)
    assert len(segments(folder)) == 1
    live.close()  # unsettled: the segment stays for the next start
    assert len(segments(folder)) == 1


def test_settled_segments_are_deleted_and_close_cleans_up(tmp_path):
    folder = tmp_path / "j"
    journal = Journal(folder, segment_bytes=4096)
    batch = records(60)
    for record in batch:
        journal.append(record)
    before = len(segments(folder))
    assert before > 2  # rotated at 4 KiB
    journal.settle(batch[:30])
    stats = journal.stats()
    assert (stats.pending, stats.settled) == (30, 30)
    assert 0 < stats.segments == len(segments(folder)) < before  # the settled, rotated ones are gone
    assert sum(len(read_segment(p).records) for p in segments(folder)) >= 30  # the unsettled ones stay
    journal.settle(batch[30:])
    journal.close()
    assert list(folder.iterdir()) == []


def test_a_failing_disk_raises_a_clear_error_and_the_monitor_still_stores(tmp_path):
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    journal = Journal(tmp_path / "j", sync=full)
    with pytest.raises(JournalError, match="could not be made durable.*No space left"):
        journal.append(records(1)[0])
    assert journal.stats().failed == 1
    journal.close()


def test_a_durable_monitor_stores_everything_and_leaves_no_journal(tmp_path, db_url):  # noqa: F811
    with Store.open(db_url) as store:
        folder = journal_folder(tmp_path, store)
        monitor, report = durable_monitor(store, folder)
        assert report.records == 0
        ids: list[str] = []
        threads = [
            threading.Thread(target=lambda k=k: ids.extend(monitor.log(f"q{k}-{i}", "a") for i in range(20)))
            for k in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert monitor.journal is not None and monitor.journal.stats().appended == 160
        monitor.close()
        assert store.repo.count() == 160
        assert list(folder.glob("*")) == []
        stored = store.repo.get_record(ids[0])
        assert stored.flags is not None and stored.prompt_hash  # prepared (quality) before journaling


_KILLED_WRITER = """
import sys, threading
from pellucid.monitor import Store
from pellucid.monitor.durable import durable_monitor
store = Store.open(sys.argv[1])
monitor, _ = durable_monitor(store, __import__("pathlib").Path(sys.argv[2]), flush_interval=30.0)
lock = threading.Lock()
def client(k):
    for i in range(100000):
        rid = monitor.log(f"client {k} call {i}", "answer")
        with lock:
            print(rid, flush=True)
for k in range(8):
    threading.Thread(target=client, args=(k,), daemon=True).start()
threading.Event().wait()
"""


def test_sigkill_during_a_burst_loses_no_acknowledged_record(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    folder = tmp_path / "crash.db.journal"
    Store.open(url).close()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, url, str(folder)], stdout=subprocess.PIPE, env=env, text=True
    )
    acked: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acked.append(line.strip())
        if len(acked) >= 300:
            break
    proc.send_signal(signal.SIGKILL)  # mid-burst: the writer (30 s batches) has stored nothing yet
    rest, _ = proc.communicate(timeout=30)
    acked += [line for line in rest.split() if line]
    with Store.open(url) as store:
        assert store.repo.count() == 0
        monitor, report = durable_monitor(store, folder)
        monitor.close()
        assert report.records >= len(acked) and report.inserted == report.records
        stored = [str(r.id) for r in store.repo.list_records(limit=1000).items]
        assert len(stored) == len(set(stored)) == report.records
        assert set(acked) <= set(stored)
        again, _ = durable_monitor(store, folder)  # a second start replays nothing more
        again.close()
        assert store.repo.count() == len(stored)


def test_close_lets_appends_already_begun_finish(tmp_path):
    gate = threading.Event()

    def sync(fd: int) -> None:
        gate.wait(5)

    journal = Journal(tmp_path / "j", sync=sync)
    threads = [threading.Thread(target=journal.append, args=(r,)) for r in records(6)]
    for t in threads:
        t.start()
    time.sleep(0.05)  # one sync under way, the other appends waiting for the next
    closer = threading.Thread(target=journal.close)
    closer.start()
    gate.set()
    for t in [*threads, closer]:
        t.join(10)
    assert journal.stats().appended == 6 and journal.stats().failed == 0
    assert sum(len(read_segment(p).records) for p in segments(tmp_path / "j")) == 6  # unsettled: kept
    with pytest.raises(StoreClosedError, match="journal is closed"):
        journal.append(records(1)[0])


def test_the_sdk_opens_a_durable_monitor_beside_a_sqlite_store(tmp_path):
    from pellucid.monitor import Monitor
    from pellucid.settings import Settings

    url = f"sqlite:///{tmp_path / 'app.db'}"
    monitor = Monitor.open(url, settings=Settings(home=tmp_path / "home"), durable=True, model="m", quality=None)
    rid = monitor.log("hello", "hi")
    folder = tmp_path / "app.db.journal"
    assert rid in {r.id for p in segments(folder) for r in read_segment(p).records}
    monitor.close()
    assert list(folder.iterdir()) == []
    with Store.open(url) as store:
        record = store.repo.get_record(rid)
        assert record.model == "m" and record.flags == {}  # quality=None: no flags computed


def test_a_sync_that_raises_anything_fails_its_appends_and_the_next_batch_goes_on(tmp_path):
    calls = []

    def flaky(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise RuntimeError("controller reset")

    journal = Journal(tmp_path / "j", sync=flaky)
    first, second = records(2)
    with pytest.raises(JournalError, match="controller reset"):
        journal.append(first)
    journal.append(second)  # a new segment, no waiting forever
    stats = journal.stats()
    assert (stats.failed, stats.appended) == (1, 1) and "controller reset" in (stats.last_error or "")
    kept = [r.id for p in segments(tmp_path / "j") for r in read_segment(p).records]
    assert kept == [second.id]  # the failed batch's frame was cut, not left to be replayed
    journal.close()


def test_a_failing_preparer_flags_the_record_instead_of_losing_it(tmp_path):
    def broken(record: NewRecord) -> NewRecord:
        raise RuntimeError("redactor crashed")

    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        monitor, _ = durable_monitor(store, tmp_path / "j", prepare=broken)
        rid = monitor.log("hello", "hi")
        monitor.close()
        assert "redactor crashed" in store.repo.get_record(rid).flags["prepare_failed"]
