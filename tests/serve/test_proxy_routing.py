"""Proxy mode's timeouts (flags, variables, config file) and a gateway mixing local and proxied models.

The upstreams are the stub of ``tests/support/openai_stub.py`` and a socket that accepts
connections and never answers (a hung server); the proxy runs in a real uvicorn.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.serve.upstreams import UpstreamTimeouts
from pellucid.service import ModelPool
from pellucid.settings import Settings, read_upstream_config
from tests.support.loopback import serving
from tests.support.openai_stub import PIECES, TEXT, stub_app

MESSAGES = [{"role": "user", "content": "Say hello"}]


@contextmanager
def silent_upstream() -> Iterator[str]:
    """A listening socket nobody accepts from: connections open (the kernel's backlog), no byte comes back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@contextmanager
def proxy_app(settings: Settings, tmp_path: Path, tiny_lm: Any = None, **overrides: Any) -> Iterator[tuple[str, Any]]:
    settings = settings.with_overrides(**overrides)
    pool = ModelPool(settings)
    if tiny_lm is not None:
        pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path / 'routing.db'}")
    app = create_app(settings, pool, store)
    try:
        with serving(app) as url:
            yield url, app
    finally:
        store.close()


def records(app: Any) -> list[StoredRecord]:
    state = app.state.pellucid
    assert state.monitor.flush(timeout=30)
    items = state.store.repo.list_records(RecordFilter(), limit=100, oldest_first=True).items
    return [state.store.repo.get_record(r.id) for r in items]


# -- timeouts ---------------------------------------------------------------------------------
def test_a_silent_upstream_is_a_504_after_the_read_timeout(settings, tmp_path):
    with (
        silent_upstream() as hung,
        proxy_app(settings, tmp_path, upstreams=(f"hung={hung}",), upstream_read_timeout=0.5) as (url, app),
    ):
        started = time.monotonic()
        res = httpx.post(f"{url}/v1/chat/completions", json={"model": "hung", "messages": MESSAGES}, timeout=20)
        waited = time.monotonic() - started
    assert res.status_code == 504 and res.json()["error"]["code"] == "upstream_timeout"
    assert "'hung'" in res.json()["error"]["message"] and "did not answer in time" in res.json()["error"]["message"]
    assert 0.5 <= waited < 5.0  # the configured 0.5 s, not the 300 s default
    [record] = records(app)
    assert record.id == res.headers["X-Pellucid-Record-Id"] and record.model == "hung"
    assert record.metadata["gateway"]["status"] == 504 and "did not answer in time" in record.error


def test_the_total_timeout_cuts_a_slow_answer(settings, tmp_path):
    with (
        serving(stub_app()) as stub,
        proxy_app(
            settings, tmp_path, upstreams=(f"slow={stub}/v1",), upstream_read_timeout=20, upstream_total_timeout=1
        ) as (url, app),
    ):
        started = time.monotonic()
        res = httpx.post(f"{url}/v1/chat/completions", json={"model": "slow", "messages": MESSAGES}, timeout=20)
        waited = time.monotonic() - started
    error = res.json()["error"]
    assert res.status_code == 504 and error["code"] == "upstream_timeout" and waited < 2.9  # the stub takes 3 s
    assert "total timeout of 1 s" in error["message"] and "PELLUCID_UPSTREAM_TOTAL_TIMEOUT" in error["message"]
    [record] = records(app)
    assert record.error is not None and "total timeout of 1 s" in record.error


def test_the_total_timeout_ends_a_stalled_stream_with_an_error_event(settings, tmp_path):
    with (
        serving(stub_app()) as stub,
        proxy_app(
            settings, tmp_path, upstreams=(f"stall={stub}/v1",), upstream_read_timeout=20, upstream_total_timeout=1
        ) as (url, app),
    ):
        body = {"model": "stall", "messages": MESSAGES, "stream": True}
        started = time.monotonic()
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=20) as res:
            assert res.status_code == 200
            text = res.read().decode()
        waited = time.monotonic() - started
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIError, match="total timeout"):
            list(client.chat.completions.create(model="stall", messages=MESSAGES, stream=True))
    assert waited < 10  # the stub stays silent for 30 s
    last = text.strip().split("\n\n")[-1]
    assert last.startswith('data: {"error"') and "total timeout of 1 s" in last and "upstream_timeout" in last
    first, second = records(app)
    assert first.response == PIECES[0] and first.metadata["gateway"]["status"] == 504
    assert "total timeout" in first.error and second.error is not None


def test_timeouts_come_from_flags_variables_or_the_file(tmp_path):
    config = tmp_path / "upstreams.toml"
    config.write_text(
        "[timeouts]\nconnect = 2\nread = 30\ntotal = 60\n\n"
        '[[upstream]]\nname = "llama"\nurl = "http://127.0.0.1:8001/v1"\nmodel = "meta/llama"\n'
        'key_env = "LLAMA_KEY"\nlocal_weights = "smollm2-135m-instruct"\n\n'
        '[[upstream]]\nname = "gpt"\nurl = "https://api.example.com/v1"\n'
    )
    env = {"PELLUCID_UPSTREAM_CONFIG": str(config), "PELLUCID_UPSTREAM_READ_TIMEOUT": "12.5"}
    settings = Settings.from_env(env, upstreams=("extra=http://h/v1",))
    assert settings.upstreams == ("llama=http://127.0.0.1:8001/v1#meta/llama", "gpt=https://api.example.com/v1",
                                  "extra=http://h/v1")  # fmt: skip
    assert settings.upstream_key_env == ("llama=LLAMA_KEY",)
    assert settings.local_weights == ("llama=smollm2-135m-instruct",)
    timeouts = UpstreamTimeouts.from_settings(settings)
    assert (timeouts.connect, timeouts.read, timeouts.total) == (2.0, 12.5, 60.0)  # the variable beats the file
    defaults = UpstreamTimeouts.from_settings(Settings())
    assert (defaults.connect, defaults.read, defaults.total) == (10.0, 300.0, 900.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[upstream]]\nname = 'a'\n", ["number 1", "needs name and url"]),
        ("[[upstream]]\nname = 'a'\nurl = 'http://h'\nport = 1\n", ["unknown key(s) ['port']", "allowed: name"]),
        ("[timeouts]\nread = -1\n", ["[timeouts] read", "'-1'", "positive number of seconds"]),
        ("[timeouts]\nwait = 1\n", ["['wait']", "connect, read, total"]),
        ("[upstream]\nname = 'a'\n", ["[[upstream]] table (double brackets)"]),
        ("[[upstream]\n", ["not valid TOML"]),
        ("[models]\n", ["unknown table(s) ['models']"]),
    ],
)
def test_a_bad_config_file_names_the_problem(tmp_path, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(InvalidInputError) as info:
        read_upstream_config(config)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_bad_timeout_values_are_refused_before_serving(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    with pytest.raises(InvalidInputError, match="PELLUCID_UPSTREAM_TOTAL_TIMEOUT='soon' is not a positive number"):
        Settings.from_env({"PELLUCID_UPSTREAM_TOTAL_TIMEOUT": "soon"})
    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path))
    args = ["serve", "--upstream", "a=http://h/v1", "--upstream-read-timeout", "0", "--no-background"]
    result = CliRunner().invoke(app, args)
    output = " ".join(result.output.split())
    assert result.exit_code != 0 and "--upstream-read-timeout='0.0' is not a positive" in output
    missing = CliRunner().invoke(app, ["serve", "--upstream-config", str(tmp_path / "nope.toml"), "--no-background"])
    assert missing.exit_code != 0 and "cannot be read" in missing.output
    assert not (tmp_path / "pellucid.db").exists()


# -- local and proxied models on one gateway ----------------------------------------------------
@pytest.fixture
def mixed(tiny_lm, settings, tmp_path) -> Iterator[tuple[str, Any, Any]]:
    stub = stub_app()
    with (
        serving(stub) as stub_url,
        proxy_app(
            settings, tmp_path, tiny_lm, upstreams=(f"ok={stub_url}/v1",), serve_local=True, default_model=tiny_lm.name
        ) as (url, app),
    ):
        yield url, app, stub


def test_models_lists_local_and_proxied_names(mixed, tiny_lm):
    url, _, _ = mixed
    listed = {m.id: m for m in openai.OpenAI(base_url=f"{url}/v1", api_key="x").models.list()}
    assert {"ok", tiny_lm.name} <= set(listed)
    assert listed["ok"].owned_by == "stub" and listed[tiny_lm.name].owned_by == "pellucid"


def test_each_call_is_routed_by_its_model_name(mixed, tiny_lm):
    url, app, stub = mixed
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    proxied = client.chat.completions.create(model="ok", messages=MESSAGES)
    local = client.chat.completions.create(model=tiny_lm.name, messages=MESSAGES, max_tokens=3, temperature=0)
    body = {"prompt": "Hi", "max_tokens": 2, "temperature": 0}  # no model: the server's default
    default = httpx.post(f"{url}/v1/completions", json=body, timeout=60).json()
    streamed = list(client.chat.completions.create(model=tiny_lm.name, messages=MESSAGES, max_tokens=3, stream=True))
    assert proxied.choices[0].message.content == TEXT and len(stub.state.seen) == 1  # only "ok" went upstream
    assert local.model == tiny_lm.name and local.usage is not None and local.usage.completion_tokens <= 3
    assert default["model"] == tiny_lm.name and streamed
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=MESSAGES)
    res = httpx.post(f"{url}/v1/chat/completions", json={"model": tiny_lm.name, "messages": [], "n": 3}, timeout=10)
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_request"
    logged = records(app)
    assert [r.model for r in logged[:4]] == ["ok", tiny_lm.name, tiny_lm.name, tiny_lm.name]
    assert "proxy" in logged[0].metadata["gateway"] and all("proxy" not in r.metadata["gateway"] for r in logged[1:])
    assert [r.metadata["gateway"]["status"] for r in logged[4:]] == [404, 400]
