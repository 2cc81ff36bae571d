"""Durable mode in the gateway: each call's record is journaled before its answer ends, replayed after a crash."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import NewRecord, Store
from pellucid.monitor.durable import journal_folder
from pellucid.monitor.journal import Journal
from pellucid.monitor.journal_format import read_segment
from pellucid.settings import Settings
from tests.hardening.harness import Server, norm_id, run_load, stored
from tests.monitor.conftest import db_url  # noqa: F401
from tests.serve.conftest import make_gateway, sse_events


def journaled_ids(folder: Path) -> set[str]:
    return {r.id for seg in sorted(folder.glob("*.seg")) for r in read_segment(seg).records}


@pytest.fixture()
def durable(tiny_lm, settings, tmp_path):
    gen = make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}", durable=True)
    gw = next(gen)
    yield gw, tmp_path / "gw.db.journal"
    next(gen, None)


def test_a_plain_answer_is_journaled_before_it_is_returned(durable):
    gw, folder = durable
    res = gw.chat("Hello durable")
    assert res.status_code == 200
    rid = res.headers["X-Pellucid-Record-Id"]
    assert rid in journaled_ids(folder)  # on disk already, whatever the writer has done
    [record] = gw.records()
    assert record.id == rid and record.prompt_text == "Hello durable"
    assert gw.app.state.pellucid.monitor.journal.stats().appended == 1


def test_a_stream_is_journaled_before_its_done_event(durable):
    gw, folder = durable
    body = {"model": gw.model, "messages": [{"role": "user", "content": "stream me"}], "max_tokens": 5, "stream": True}
    seen_at_done: set[str] = set()
    with gw.client.stream("POST", "/v1/chat/completions", json=body) as res:
        rid = res.headers["X-Pellucid-Record-Id"]
        text = ""
        for chunk in res.iter_text():
            text += chunk
            if "data: [DONE]" in text and not seen_at_done:
                seen_at_done = journaled_ids(folder) | {"checked"}
    assert sse_events(text)[-1] == "[DONE]"
    assert rid in seen_at_done
    [record] = gw.records()
    assert record.id == rid and record.metadata["gateway"]["finish_reason"] in ("stop", "length")


def test_shutdown_leaves_no_journal_and_every_record_once(tiny_lm, settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    gen = make_gateway(tiny_lm, settings, url, durable=True)
    gw = next(gen)
    ids = [gw.chat(f"q{i}").headers["X-Pellucid-Record-Id"] for i in range(5)]
    next(gen, None)  # the lifespan closes the monitor: the writer drains, the journal is settled
    assert list((tmp_path / "gw.db.journal").iterdir()) == []
    with Store.open(url) as store:
        assert sorted(r.id for r in store.repo.list_records(limit=100).items) == sorted(ids)


def test_a_durable_start_replays_a_crashed_run(tiny_lm, settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    with Store.open(url) as store:
        folder = journal_folder(settings.home, store)
    crashed = Journal(folder)
    lost = [NewRecord(prompt=f"acknowledged {i}", response="yes") for i in range(3)]
    for record in lost:
        crashed.append(record)
    for fd in (crashed._fd, crashed._lock_fd):  # SIGKILL: descriptors closed, files left
        assert fd is not None
        os.close(fd)
    gen = make_gateway(tiny_lm, settings, url, durable=True)
    gw = next(gen)
    assert {r.prompt_text for r in gw.records()} == {"acknowledged 0", "acknowledged 1", "acknowledged 2"}
    next(gen, None)


def test_default_mode_keeps_no_journal(sqlite_gateway, tmp_path):
    assert sqlite_gateway.chat("hi").status_code == 200
    assert sqlite_gateway.app.state.pellucid.monitor.journal is None
    assert not (tmp_path / "gw.db.journal").exists()


def test_the_durable_settings_read_from_the_environment():
    assert Settings.from_env({}).durable is False
    on = Settings.from_env({"PELLUCID_DURABLE": "1", "PELLUCID_DURABLE_WINDOW_MS": "2.5"})
    assert on.durable is True and on.durable_window_ms == 2.5
    with pytest.raises(InvalidInputError, match="PELLUCID_DURABLE='maybe'.*1 \\(on\\) or 0"):
        Settings.from_env({"PELLUCID_DURABLE": "maybe"})
    with pytest.raises(InvalidInputError, match="PELLUCID_DURABLE_WINDOW_MS='-1'.*0 to 1000"):
        Settings.from_env({"PELLUCID_DURABLE_WINDOW_MS": "-1"})


@pytest.mark.slow
def test_sigkill_of_a_durable_server_loses_no_acknowledged_record(tiny_dir, tmp_path):
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    server = Server(tiny_dir, url, tmp_path / "home", durable=True)
    server.wait_ready()
    killer = threading.Timer(5.0, server.kill)
    killer.start()
    try:
        result = run_load(server.url, clients=20, seconds=7)
    finally:
        killer.join()
        server.stop()
    assert len(result.acked) > 20
    with Server(tiny_dir, url, tmp_path / "home", durable=True):  # the restart replays the journal
        pass
    ids, _ = stored(url)
    assert len(ids) == len(set(ids))  # no duplicates
    assert set(result.acked) <= {norm_id(i) for i in ids}
    assert list((tmp_path / "crash.db.journal").glob("*.seg")) == []


def test_a_malformed_call_is_journaled_too(durable):
    gw, folder = durable
    res = gw.client.post("/v1/chat/completions", json={"model": gw.model, "messages": "not a list"})
    assert res.status_code in (400, 422)
    rid = res.headers["X-Pellucid-Record-Id"]
    assert rid in journaled_ids(folder)
    [record] = gw.records()
    assert record.id == rid and record.error


def test_a_proxied_stream_is_journaled_before_its_done_event(tiny_lm, settings, tmp_path):
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool
    from tests.support.loopback import serving
    from tests.support.openai_stub import stub_app

    with serving(stub_app()) as stub_url:
        settings = settings.with_overrides(upstreams=(f"stream={stub_url}/v1",), durable=True)
        store = Store.open(f"sqlite:///{tmp_path / 'proxy.db'}")
        app = create_app(settings, ModelPool(settings), store)
        try:
            with serving(app) as url:
                body = {"model": "stream", "messages": [{"role": "user", "content": "hi"}], "stream": True}
                with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as res:
                    rid, text, at_done = res.headers["X-Pellucid-Record-Id"], "", set()
                    for chunk in res.iter_text():
                        text += chunk
                        if "[DONE]" in text and not at_done:
                            at_done = journaled_ids(tmp_path / "proxy.db.journal") | {"checked"}
                assert rid in at_done
        finally:
            store.close()


def test_ingested_spans_are_redacted_before_the_journal_and_stored_once(tiny_lm, settings, tmp_path):
    import json

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    gen = make_gateway(tiny_lm, settings, url, durable=True, redact_pii=True)
    gw = next(gen)
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Mail ann@example.com please",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Done.",
    }
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "00f067aa0ba902b7",
        "name": "llm",
        "kind": 3,
        "startTimeUnixNano": "1764900000000000000",
        "endTimeUnixNano": "1764900000250000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }
    body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]})
    res = gw.client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
    assert res.status_code == 200
    journal = tmp_path / "gw.db.journal"
    raw = b"".join(p.read_bytes() for p in journal.glob("*.seg"))
    assert b"Done." in raw and b"ann@example.com" not in raw  # journaled, already redacted
    [record] = gw.records()
    assert record.prompt == [{"role": "user", "content": "Mail [EMAIL] please"}]
    assert record.redaction is not None and record.redaction["prompt"] == {"EMAIL": 1}
    next(gen, None)


def test_the_durable_gateway_on_each_store(tiny_lm, settings, db_url):  # noqa: F811
    gen = make_gateway(tiny_lm, settings, db_url, durable=True)
    gw = next(gen)
    folder = journal_folder(settings.home, gw.store)
    if gw.store.dialect == "postgresql":  # a server database: the journal lives in the home
        assert folder.parent == settings.home / "journal"
    res = gw.chat("each store")
    rid = res.headers["X-Pellucid-Record-Id"]
    assert rid in journaled_ids(folder)
    assert [r.id for r in gw.records()] == [rid]
    next(gen, None)
    assert list(folder.glob("*")) == []
