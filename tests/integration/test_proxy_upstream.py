"""Proxy mode in front of a real, separate ``pellucid serve`` process, with the official ``openai`` SDK.

The upstream is a second Pellucid serving the tiny random Llama on a loopback port (its own
process and database); the proxy runs in this process under uvicorn with the same tiny model
mapped as the proxied model's local weights. Checked: plain and streamed answers arrive as
the upstream produced them (the upstream's own records hold the same text), the proxy's
records carry the same fields as local ones, a proxied record can be explained, an upstream
killed mid-stream ends the stream with an error event and one record, and a stopped upstream
is a clean 502.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from pellucid.service.records import explain_record
from pellucid.settings import Settings
from tests.hardening.harness import Server, norm_id, stored
from tests.support.loopback import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
SAMPLING: dict[str, Any] = {"temperature": 1.0, "seed": 3}


def _records(app: Any, store: Store) -> list[StoredRecord]:
    assert app.state.pellucid.monitor.flush(timeout=30)
    items = store.repo.list_records(RecordFilter(), limit=100, oldest_first=True).items
    return [store.repo.get_record(r.id) for r in items]


@pytest.fixture
def upstream(tiny_dir: Path, tmp_path: Path) -> Iterator[Server]:
    with Server(tiny_dir, f"sqlite:///{tmp_path / 'upstream.db'}", tmp_path / "upstream-home") as server:
        yield server


@pytest.fixture
def proxy(upstream: Server, tiny_dir: Path, tiny_lm: Any, tmp_path: Path) -> Iterator[tuple[str, Any, Store]]:
    settings = Settings(home=tmp_path / "proxy-home").with_overrides(
        upstreams=(f"tiny={upstream.url}/v1#{tiny_dir}",), local_weights=(f"tiny={tiny_dir}",)
    )
    pool = ModelPool(settings)
    pool.add(tiny_lm, str(tiny_dir))
    store = Store.open(f"sqlite:///{tmp_path / 'proxy.db'}")
    app = create_app(settings, pool, store)
    try:
        with serving(app) as url:
            yield url, app, store
    finally:
        store.close()


def test_sdk_through_the_proxy_plain_and_streamed(proxy, upstream, tiny_lm):
    url, app, store = proxy
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="tiny", messages=MESSAGES, max_tokens=8, **SAMPLING)
    plain = raw.parse()
    expected = tiny_lm.generate(MESSAGES, max_new_tokens=8, **SAMPLING).text
    assert expected.strip()  # something to explain
    assert plain.choices[0].message.content == expected and plain.usage is not None
    stream = client.chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        max_tokens=8,
        **SAMPLING,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == expected and chunks[-1].usage is not None

    first, second = _records(app, store)
    assert first.id == raw.headers["X-Pellucid-Record-Id"]
    for record in (first, second):
        assert record.model == "tiny" and record.response == expected and record.error is None
        assert record.prompt_tokens == plain.usage.prompt_tokens and record.completion_tokens == 8
        assert 0 < record.ttft_ms <= record.latency_ms
        assert record.metadata["gateway"]["proxy"]["local_weights"] is not None
    assert second.params["stream"] is True

    assert _upstream_count(upstream, 2) == 2  # the upstream logged the same two calls on its side

    ex = explain_record(app.state.pellucid.models, store, first.id, "occlusion")
    assert ex.meta["record_id"] == first.id and ex.scores.shape[0] >= 1


def _upstream_count(upstream: Server, expected: int, timeout: float = 10.0) -> int:
    """Records in the upstream's own database, once its writer has flushed (it runs in another process)."""
    deadline = time.monotonic() + timeout
    while True:
        count = len({norm_id(i) for i in stored(upstream.db_url)[0]})
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_upstream_killed_mid_stream_then_refused(proxy, upstream):
    url, app, store = proxy
    body = {"model": "tiny", "messages": MESSAGES, "max_tokens": 200, "temperature": 0, "stream": True}
    received = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as res:
        assert res.status_code == 200
        for line in res.iter_lines():
            received.append(line)
            if len([x for x in received if '"content"' in x]) == 3:
                upstream.kill()
    events = [line for line in received if line.startswith("data: ")]
    assert events[-1].startswith('data: {"error"') and "'tiny'" in events[-1]
    assert "data: [DONE]" not in events
    [record] = _records(app, store)
    assert record.metadata["gateway"]["status"] == 502 and "stream was cut" in (record.error or "")
    assert record.response is not None and len(record.response) > 0

    res = httpx.post(f"{url}/v1/chat/completions", json={**body, "stream": False}, timeout=30)
    assert res.status_code == 502 and "could not be reached" in res.json()["error"]["message"]
    assert len(_records(app, store)) == 2
