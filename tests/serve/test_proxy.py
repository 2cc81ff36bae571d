"""Proxy mode against a stub upstream on loopback: the official ``openai`` SDK as the client.

The stub (``tests/support/openai_stub.py``) produces the answers a real server cannot be made to
give on demand (not JSON, wrong schema, cut streams, slow answers); the proxy runs in a real
uvicorn so the SDK talks HTTP to it. A real ``pellucid serve`` as the upstream is in
``tests/integration/test_proxy_upstream.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.serve.upstreams import build_upstreams
from pellucid.service import ModelPool
from tests.support.loopback import free_port, serving
from tests.support.openai_stub import PIECES, TEXT, stub_app

MODELS = ("ok", "nousage", "html", "schema", "limited", "broken", "slow", "stream", "cut", "stall")
MESSAGES = [{"role": "user", "content": "Say hello"}]


@dataclass
class Proxied:
    url: str
    app: Any
    store: Store
    stub: Any
    tiny: str

    def client(self, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0, **kw)

    def records(self) -> list[StoredRecord]:
        assert self.app.state.pellucid.monitor.flush(timeout=30)
        items = self.store.repo.list_records(RecordFilter(), limit=100, oldest_first=True).items
        return [self.store.repo.get_record(r.id) for r in items]


@pytest.fixture
def proxied(tiny_lm, settings, tmp_path, monkeypatch) -> Iterator[Proxied]:
    monkeypatch.setenv("STUB_KEY", "sk-stub-123")
    stub = stub_app()
    with serving(stub) as stub_url:
        specs = [f"{m}={stub_url}/v1" for m in MODELS]
        specs.append(f"renamed={stub_url}/v1#ok")
        specs.append(f"gone=http://127.0.0.1:{free_port()}/v1")
        settings = settings.with_overrides(
            upstreams=tuple(specs), upstream_key_env=("ok=STUB_KEY",), local_weights=(f"nousage={tiny_lm.name}",)
        )
        pool = ModelPool(settings)
        pool.add(tiny_lm)
        store = Store.open(f"sqlite:///{tmp_path / 'proxy.db'}")
        app = create_app(settings, pool, store)
        app.state.pellucid.proxy.timeout = httpx.Timeout(1.0, connect=1.0)
        try:
            with serving(app) as url:
                yield Proxied(url, app, store, stub, tiny_lm.name)
        finally:
            store.close()


def test_non_streamed_call_is_passed_back_and_logged(proxied):
    raw = proxied.client().chat.completions.with_raw_response.create(
        model="ok", messages=MESSAGES, temperature=0.5, user="ann"
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == TEXT and answer.model == "ok-v1"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 4)
    assert proxied.stub.state.seen[-1]["authorization"] == "Bearer sk-stub-123"
    assert proxied.stub.state.seen[-1]["body"]["temperature"] == 0.5
    [record] = proxied.records()
    assert record.id == raw.headers["X-Pellucid-Record-Id"]
    assert record.model == "ok" and record.model_version == "ok-v1" and record.user_id == "ann"
    assert record.prompt == MESSAGES and record.response == TEXT and record.error is None
    assert (record.prompt_tokens, record.completion_tokens) == (7, 4)
    assert 0 < record.ttft_ms <= record.latency_ms
    assert record.params["temperature"] == 0.5 and record.params["chat"] is True
    gateway = record.metadata["gateway"]
    assert gateway["status"] == 200 and gateway["finish_reason"] == "stop"
    assert gateway["proxy"]["upstream"] == "ok" and "sk-stub" not in str(record.metadata)


def test_renamed_model_and_unkeyed_upstream(proxied):
    proxied.client().chat.completions.create(model="renamed", messages=MESSAGES)
    seen = proxied.stub.state.seen[-1]
    assert seen["body"]["model"] == "ok" and seen["authorization"] is None
    assert proxied.records()[0].model == "renamed"


def test_missing_usage_is_counted_with_the_mapped_tokenizer(proxied, tiny_lm):
    answer = proxied.client().chat.completions.create(model="nousage", messages=MESSAGES)
    assert answer.usage is None  # the client sees what the upstream sent
    [record] = proxied.records()
    assert record.prompt_tokens == len(tiny_lm.encode(MESSAGES, chat=True))
    assert record.completion_tokens == len(tiny_lm.encode_target(TEXT))
    assert record.metadata["gateway"]["usage"] == f"counted with {tiny_lm.name}"


def test_stream_is_relayed_chunk_by_chunk(proxied):
    stream = proxied.client().chat.completions.create(
        model="stream", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == PIECES and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    [record] = proxied.records()
    assert record.response == TEXT and record.error is None and record.params["stream"] is True
    assert (record.prompt_tokens, record.completion_tokens) == (7, 3)
    # the stub waits 50 ms before each piece: the first token comes well before the end
    assert 0 < record.ttft_ms < record.latency_ms and record.latency_ms - record.ttft_ms > 60


def test_stream_without_usage_leaves_counts_empty_when_unmapped(proxied):
    list(proxied.client().chat.completions.create(model="stream", messages=MESSAGES, stream=True))
    [record] = proxied.records()
    assert record.response == TEXT and record.prompt_tokens is None and record.completion_tokens is None


def test_upstream_cut_mid_stream_ends_with_an_error_event(proxied):
    with httpx.stream(
        "POST", f"{proxied.url}/v1/chat/completions", json={"model": "cut", "messages": MESSAGES, "stream": True}
    ) as res:
        assert res.status_code == 200
        body = res.read().decode()
    assert '"content": " from"' in body and body.rstrip().endswith("}")
    last = body.strip().split("\n\n")[-1]
    assert last.startswith('data: {"error"') and "'cut'" in last and "cut" in last
    [record] = proxied.records()
    assert record.response == "Hello from" and record.metadata["gateway"]["status"] == 502
    assert record.error is not None and "stream was cut" in record.error


def test_a_client_leaving_mid_stream_stops_the_relay_and_is_logged_once(proxied):
    # "stall" sends one piece, then nothing for 30 s; the proxy's read timeout here is 1 s, so a
    # relay that did not notice the client leaving would log a 504 "stream was cut" instead.
    body = {"model": "stall", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{proxied.url}/v1/chat/completions", json=body) as res:
        seen = ""
        for text in res.iter_text():
            seen += text
            if '"content": "Hello"' in seen:
                break  # leave: the connection closes with the block
    deadline = time.monotonic() + 10  # the proxy logs the call and closes upstream once it has seen the client go
    while not (proxied.records() and proxied.stub.state.left) and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = proxied.records()
    assert record.metadata["gateway"]["status"] == 499 and record.response == "Hello"
    assert record.error is not None and "client disconnected" in record.error
    assert proxied.stub.state.left == ["stall"]  # the upstream saw the call go: a real server stops generating
    # the upstream connection was given back cleanly: the next call on the same proxy works
    answer = proxied.client().chat.completions.create(model="ok", messages=MESSAGES)
    assert answer.choices[0].message.content == TEXT and len(proxied.records()) == 2


def test_sdk_raises_on_a_cut_stream(proxied):
    with pytest.raises(openai.APIError):
        list(proxied.client().chat.completions.create(model="cut", messages=MESSAGES, stream=True))
    assert len(proxied.records()) == 1


@pytest.mark.parametrize(
    ("model", "status", "words"),
    [
        ("html", 502, ["'html'", "not JSON", "Bad gateway"]),
        ("schema", 502, ["'schema'", "without a 'choices' list", "no choices here"]),
        ("gone", 502, ["'gone'", "could not be reached"]),
        ("slow", 504, ["'slow'", "did not answer in time"]),
        ("limited", 429, ["Rate limit reached for stub"]),
        ("broken", 500, ["'broken'", "answered 500", "upstream exploded"]),
    ],
)
def test_upstream_failures_are_clean_openai_errors(proxied, model, status, words):
    res = httpx.post(f"{proxied.url}/v1/chat/completions", json={"model": model, "messages": MESSAGES}, timeout=10)
    assert res.status_code == status
    message = res.json()["error"]["message"]
    assert all(w in message for w in words), message
    [record] = proxied.records()
    assert record.id == res.headers["X-Pellucid-Record-Id"] and record.model == model
    assert record.metadata["gateway"]["status"] == status and all(w in record.error for w in words[-1:])


def test_sdk_sees_upstream_status(proxied):
    with pytest.raises(openai.RateLimitError):
        proxied.client().chat.completions.create(model="limited", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError, match="not proxied here"):
        proxied.client().chat.completions.create(model="nope", messages=MESSAGES)
    assert [r.metadata["gateway"]["status"] for r in proxied.records()] == [429, 404]


def test_bad_bodies_are_refused_and_logged(proxied):
    res = httpx.post(f"{proxied.url}/v1/chat/completions", content=b"{not json", timeout=10)
    assert res.status_code == 400 and "not a JSON object" in res.json()["error"]["message"]
    assert proxied.records()[0].error is not None


def test_models_lists_every_proxied_name(proxied):
    listed = {m.id: m for m in proxied.client().models.list()}
    assert set(listed) == {*MODELS, "renamed", "gone"}
    assert listed["ok"].created == 5 and listed["ok"].owned_by == "stub"
    assert listed["gone"].model_extra["pellucid"]["reachable"] is False


@pytest.mark.parametrize(
    ("specs", "words"),
    [
        (["llama"], ["'llama'", "NAME=URL", "--upstream llama=http://"]),
        (["llama=ftp://x/v1"], ["'ftp://x/v1'", "http:// or https://"]),
        (["llama=http://h:99999/v1"], ["bad port"]),
        (["a=http://h/v1", "a=http://g/v1"], ["'a'", "twice"]),
    ],
)
def test_bad_upstream_specs_name_the_value_and_the_fix(specs, words):
    with pytest.raises(InvalidInputError) as info:
        build_upstreams(specs)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_key_and_weights_must_name_a_proxied_model():
    with pytest.raises(InvalidInputError, match="'b', which is not a proxied model .configured: a."):
        build_upstreams(["a=http://h/v1"], local_weights=["b=smollm2-135m-instruct"])
    ups = build_upstreams(["a=http://h/v1/", "b=http://g/v1#m"], key_envs=["KEY"])
    assert ups["a"].base_url == "http://h/v1" and ups["b"].model == "m" and ups["b"].key_env == "KEY"
    with pytest.raises(InvalidInputError, match=r"\$KEY, which is not set"):
        ups["a"].api_key({})


def test_serve_refuses_a_bad_upstream_before_starting(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--upstream", "llama=localhost:8001", "--no-background"])
    output = " ".join(result.output.split())
    assert result.exit_code != 0 and "'localhost:8001' is not an http:// or https:// URL" in output
    assert not (tmp_path / "pellucid.db").exists()  # refused before the store was opened


def test_explaining_an_unmapped_proxied_record_says_what_to_configure(proxied):
    from pellucid.service.records import explain_record

    proxied.client().chat.completions.create(model="ok", messages=MESSAGES)
    [record] = proxied.records()
    with pytest.raises(InvalidInputError) as info:
        explain_record(proxied.app.state.pellucid.models, proxied.store, record.id)
    message = str(info.value)
    assert "'ok' is not mapped to local weights" in message and "PELLUCID_LOCAL_WEIGHTS=ok=" in message
    assert "--local-weights ok=PATH_OR_BUNDLED_NAME" in message


def test_explain_this_on_a_proxied_record_uses_the_mapped_weights(proxied):
    proxied.client().chat.completions.create(model="nousage", messages=MESSAGES)
    [record] = proxied.records()
    res = httpx.post(f"{proxied.url}/api/records/{record.id}/explanation", json={"method": "occlusion"}, timeout=60)
    assert res.status_code == 200, res.text
    explanation = res.json()
    assert explanation["model"] == proxied.tiny and explanation["meta"]["record_model"] == "nousage"
    targets = explanation["labels"]["target"]
    assert "".join(targets).startswith(TEXT) and len(explanation["scores"]) == len(targets)
    proxied.client().chat.completions.create(model="ok", messages=MESSAGES)
    unmapped = proxied.records()[-1]
    res = httpx.post(f"{proxied.url}/api/records/{unmapped.id}/explanation", json={"method": "occlusion"}, timeout=60)
    assert res.status_code == 422 and "--local-weights ok=PATH_OR_BUNDLED_NAME" in res.json()["error"]["message"]
