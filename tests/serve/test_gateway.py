"""The /v1 gateway on the tiny model: OpenAI bodies, one record per call with every field, streaming."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.serve.conftest import sse_events

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def test_chat_completion_body_and_its_one_record(gateway, tiny_lm):
    res = gateway.client.post(
        "/v1/chat/completions",
        json={
            "model": tiny_lm.name,
            "messages": MESSAGES,
            "max_tokens": 6,
            "temperature": 0,
            "user": "body-user",
            "metadata": {"ticket": "T-1"},
        },
        headers={"X-Pellucid-Session": "s-1", "X-Pellucid-Tags": "canary, exp-b"},
    )
    assert res.status_code == 200
    body = res.json()
    expected = tiny_lm.generate(MESSAGES, max_new_tokens=6)
    record_id = res.headers["X-Pellucid-Record-Id"]
    assert body["id"] == "chatcmpl-" + record_id.replace("-", "")
    assert body["object"] == "chat.completion" and isinstance(body["created"], int)
    assert body["model"] == tiny_lm.name and body["system_fingerprint"] == tiny_lm.version
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": expected.text},
            "logprobs": None,
            "finish_reason": expected.finish_reason,
        }
    ]
    prompt_tokens = len(tiny_lm.encode(MESSAGES))
    assert body["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(expected.token_ids),
        "total_tokens": prompt_tokens + len(expected.token_ids),
    }
    assert body["pellucid"] == {"record_id": record_id, "cache_hit": False}

    [record] = gateway.records()
    assert record.id == record_id
    assert record.prompt == MESSAGES and record.response == expected.text
    assert (record.model, record.model_version, record.template_version) == (
        tiny_lm.name,
        tiny_lm.version,
        tiny_lm.template_version,
    )
    assert record.template_version.startswith("tpl-") and record.model_version.startswith("cfg-")
    assert 0 < record.ttft_ms <= record.latency_ms
    assert (record.prompt_tokens, record.completion_tokens) == (prompt_tokens, len(expected.token_ids))
    assert record.params == {
        "max_tokens": 6,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": None,
        "stop": [],
        "stream": False,
    }
    assert (record.user_id, record.session_id, record.tags) == ("body-user", "s-1", ("canary", "exp-b"))
    assert record.metadata == {
        "ticket": "T-1",
        "gateway": {
            "endpoint": "chat.completions",
            "status": 200,
            "finish_reason": expected.finish_reason,
            "cache_requested": False,
        },
    }
    assert record.cache_hit is False and len(record.cache_key) == 64
    assert record.error is None and record.redaction is None


def test_user_header_wins_over_body_user(gateway):
    res = gateway.chat(user="body-user", headers={"X-Pellucid-User": "header-user"})
    assert res.status_code == 200
    [record] = gateway.records()
    assert record.user_id == "header-user"


def test_completions_endpoint_uses_the_raw_prompt(gateway, tiny_lm):
    res = gateway.client.post(
        "/v1/completions",
        json={"model": tiny_lm.name, "prompt": "The capital of France", "max_tokens": 5, "temperature": 0},
    )
    assert res.status_code == 200
    body = res.json()
    expected = tiny_lm.generate("The capital of France", chat=False, max_new_tokens=5)
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert body["choices"] == [{"index": 0, "text": expected.text, "logprobs": None, "finish_reason": "length"}]
    assert body["usage"]["prompt_tokens"] == len(tiny_lm.encode("The capital of France", chat=False))
    [record] = gateway.records()
    assert record.prompt == "The capital of France" and record.response == expected.text
    assert record.template_version == "raw" and record.metadata["gateway"]["endpoint"] == "completions"


def _stream(gateway, **body):
    res = gateway.chat(stream=True, **body)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
    return res, sse_events(res.text)


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 1.0, "seed": 1}])
def test_stream_concatenates_to_the_non_streamed_answer(sqlite_gateway, tiny_lm, sampling):
    plain = sqlite_gateway.chat(max_tokens=12, **sampling).json()
    res, events = _stream(sqlite_gateway, max_tokens=12, stream_options={"include_usage": True}, **sampling)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["pellucid"]["record_id"] == res.headers["X-Pellucid-Record-Id"]
    text_chunks = [c for c in chunks[1:] if c["choices"] and c["choices"][0]["finish_reason"] is None]
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in text_chunks)
    assert len(text_chunks) > 1
    assert streamed == plain["choices"][0]["message"]["content"]
    expected = tiny_lm.generate(MESSAGES[1:], max_new_tokens=12, **sampling)
    assert streamed == expected.text
    finish = chunks[-2]["choices"][0]
    assert finish == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]

    streamed_record = sqlite_gateway.records()[1]
    assert streamed_record.id == res.headers["X-Pellucid-Record-Id"]
    assert streamed_record.response == streamed and streamed_record.params["stream"] is True
    assert streamed_record.completion_tokens == 12 and 0 < streamed_record.ttft_ms <= streamed_record.latency_ms


def test_completions_stream(sqlite_gateway, tiny_lm):
    res = sqlite_gateway.client.post(
        "/v1/completions", json={"prompt": "The capital of France", "max_tokens": 5, "temperature": 0, "stream": True}
    )
    events = sse_events(res.text)
    assert events[-1] == "[DONE]" and all(e["object"] == "text_completion" for e in events[:-1])
    text = "".join(e["choices"][0]["text"] for e in events[:-1])
    assert text == tiny_lm.generate("The capital of France", chat=False, max_new_tokens=5).text


def test_stop_strings_end_the_answer_and_are_not_included(sqlite_gateway, tiny_lm):
    full = tiny_lm.generate(MESSAGES[1:], max_new_tokens=12, temperature=1.0, seed=2).text
    stop = full[8:11]
    assert stop.strip() and full.index(stop) == 8
    plain = sqlite_gateway.chat(max_tokens=12, temperature=1.0, seed=2, stop=[stop, "never-there"]).json()
    assert plain["choices"][0]["message"]["content"] == full[:8]
    assert plain["choices"][0]["finish_reason"] == "stop"
    _, events = _stream(sqlite_gateway, max_tokens=12, temperature=1.0, seed=2, stop=stop)
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events[:-1]]
    assert "".join(pieces) == full[:8] and events[-2]["choices"][0]["finish_reason"] == "stop"


def test_concurrent_calls_lose_nothing(gateway):
    n = 60

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gateway.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            calls = [
                client.post(
                    "/v1/chat/completions",
                    json={
                        "messages": [{"role": "user", "content": f"Hello number {i}"}],
                        "max_tokens": 2,
                        "temperature": 0,
                        "stream": i % 3 == 0,
                    },
                    headers={"X-Pellucid-User": f"user-{i}"},
                )
                for i in range(n)
            ]
            return await asyncio.gather(*calls)

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * n
    ids = {r.headers["X-Pellucid-Record-Id"]: i for i, r in enumerate(responses)}
    records = gateway.records()
    assert len(records) == n == len(ids)
    for record in records:
        i = ids[record.id]
        assert record.user_id == f"user-{i}" and record.prompt[0]["content"] == f"Hello number {i}"
        assert record.params["stream"] is (i % 3 == 0) and record.completion_tokens == 2
    assert gateway.app.state.pellucid.monitor.stats().failed == 0


def test_records_are_written_on_shutdown(tiny_lm, settings, tmp_path):
    """The lifespan closes the writer: a record still queued at shutdown is written, not lost."""
    from pellucid.monitor import BatchWriter, Store
    from tests.serve.conftest import make_gateway

    url = f"sqlite:///{tmp_path / 'shutdown.db'}"
    gen = make_gateway(tiny_lm, settings, url)
    gw = next(gen)
    gw.app.state.pellucid.monitor.writer = BatchWriter(gw.store.repo, flush_interval=3600, batch_size=100)
    assert gw.chat().status_code == 200
    assert gw.app.state.pellucid.monitor.stats().queued == 1
    with pytest.raises(StopIteration):
        next(gen)  # leaves the TestClient block: shutdown
    with Store.open(url) as store:
        assert store.repo.count() == 1


def test_without_a_store_calls_work_and_nothing_is_logged(tiny_lm, settings):
    from fastapi.testclient import TestClient

    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    client = TestClient(create_app(pool.settings, pool))
    res = client.post("/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 2})
    assert res.status_code == 200 and "X-Pellucid-Record-Id" not in res.headers
    assert res.json()["pellucid"]["record_id"] is None
    res = client.get("/api/records")
    assert res.status_code == 503 and "No monitoring store" in res.json()["error"]["message"]


def test_models_lists_the_pool(sqlite_gateway, tiny_lm):
    data = sqlite_gateway.client.get("/v1/models").json()
    assert data["object"] == "list"
    assert data["data"][0] == {"id": tiny_lm.name, "object": "model", "created": 0, "owned_by": "pellucid"}
    assert sqlite_gateway.records() == []  # listing models is not a logged call
