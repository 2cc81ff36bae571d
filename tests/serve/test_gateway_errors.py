"""Malformed and failing /v1 calls: OpenAI-shaped errors, never a traceback, each logged once."""

from __future__ import annotations

import pytest

from tests.serve.conftest import sse_events

USER = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({}, 400, "messages", "messages: required field is missing"),
        ({"messages": []}, 400, "messages", "at least 1 item"),
        ({"messages": "hi"}, 400, "messages", "valid list (got 'hi')"),
        (
            {"messages": [{"role": "wizard", "content": "x"}]},
            400,
            "messages.0.role",
            "'system', 'developer', 'user' or 'assistant' (got 'wizard')",
        ),
        ({"messages": [{"role": "user"}]}, 400, "messages.0.content", "required field is missing"),
        ({"messages": USER, "temperature": 5}, 400, "temperature", "less than or equal to 2 (got 5)"),
        ({"messages": USER, "temperature": "hot"}, 400, "temperature", "valid number"),
        ({"messages": USER, "top_p": 0}, 400, "top_p", "greater than 0"),
        ({"messages": USER, "max_tokens": 0}, 400, "max_tokens", "greater than or equal to 1"),
        ({"messages": USER, "n": 2}, 400, "n", "less than or equal to 1"),
        ({"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop", "up to 4 non-empty strings"),
        ({"messages": USER, "presence_penalty": 0.5}, 400, "body", "presence_penalty=0.5 is not supported"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            400,
            "messages.0.content",
            "'text'",
        ),
        ({"messages": [{"role": "user", "content": "   "}]}, 400, None, "The prompt is empty"),
        ({"messages": USER, "max_tokens": 100_000}, 400, "messages", "plus max_tokens=100000 is"),
        ({"messages": USER, "model": "no-such-model"}, 404, "model", "no-such-model"),
    ],
)
def test_error_bodies(sqlite_gateway, body, status, param, message):
    res = sqlite_gateway.client.post("/v1/chat/completions", json=body)
    assert res.status_code == status
    error = res.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert message in error["message"] and "Traceback" not in res.text
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    [record] = sqlite_gateway.records()
    assert record.error == error["message"] and record.response is None
    assert record.metadata["gateway"]["status"] == status
    assert record.id == res.headers["X-Pellucid-Record-Id"]


def test_codes_for_unknown_model_and_long_prompt(sqlite_gateway):
    res = sqlite_gateway.client.post("/v1/chat/completions", json={"messages": USER, "model": "no-such-model"})
    assert res.json()["error"]["code"] == "model_not_found"
    res = sqlite_gateway.client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi " * 300}]}
    )
    assert res.status_code == 400 and res.json()["error"]["code"] == "context_length_exceeded"
    unknown, long = sqlite_gateway.records()
    assert unknown.model == "no-such-model" and "no-such-model" in unknown.error
    assert long.prompt == [{"role": "user", "content": "Hi " * 300}] and "context window" in long.error


def test_invalid_json_is_logged_with_the_raw_body(sqlite_gateway):
    res = sqlite_gateway.client.post(
        "/v1/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"}
    )
    assert res.status_code == 400
    assert res.json()["error"]["message"].startswith("Invalid request: the body is not valid JSON")
    [record] = sqlite_gateway.records()
    assert record.prompt == '{"messages": [' and record.error.startswith("Invalid request")


def test_unknown_parameters_are_ignored_and_recorded(sqlite_gateway):
    res = sqlite_gateway.chat(frequency_penalty=0, tools=[], some_future_option=3)
    assert res.status_code == 200
    [record] = sqlite_gateway.records()
    assert record.metadata["gateway"]["ignored_params"] == ["some_future_option"]


def test_overlong_identity_header(sqlite_gateway):
    res = sqlite_gateway.chat(headers={"X-Pellucid-User": "u" * 201})
    assert res.status_code == 400 and "X-Pellucid-User is 201 characters" in res.json()["error"]["message"]
    [record] = sqlite_gateway.records()
    assert record.user_id == "u" * 200 and record.error is not None


def test_unknown_v1_route_and_method(sqlite_gateway):
    res = sqlite_gateway.client.get("/v1/nothing")
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    res = sqlite_gateway.client.get("/v1/chat/completions")
    assert res.status_code == 405 and set(res.json()["error"]) == {"message", "type", "param", "code"}


def test_api_routes_keep_fastapi_validation_errors(sqlite_gateway):
    res = sqlite_gateway.client.post("/api/generate", json={})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "prompt"]


def test_full_queue_answers_429_before_generating(sqlite_gateway, monkeypatch):
    writer = sqlite_gateway.app.state.pellucid.monitor.writer
    monkeypatch.setattr(writer, "max_queue", 0)
    res = sqlite_gateway.chat()
    assert res.status_code == 429
    assert res.json()["error"]["type"] == "rate_limit_error" and "queue is full" in res.json()["error"]["message"]


def test_a_stream_cut_short_is_logged_once_with_the_text_sent(sqlite_gateway, tiny_lm):
    """A client that disconnects mid-stream: the generator is closed; the record keeps the partial answer."""
    import asyncio

    from pellucid.serve.gateway import Sampling
    from pellucid.serve.routers.openai import _events

    gateway = sqlite_gateway.app.state.pellucid.gateway

    class FakeRequest:
        headers: dict[str, str] = {}

    call = gateway.begin(FakeRequest(), "chat.completions", USER, model=tiny_lm.name)
    job = gateway.prepare(call, USER, Sampling(50, 1.0, 1.0, 3, ()), chat=True)

    async def read_two_then_leave() -> list[str]:
        events = _events(job, chat=True, include_usage=False)
        got = [await events.__anext__(), await events.__anext__()]
        await events.aclose()
        return got

    first, second = asyncio.run(read_two_then_leave())
    [record] = sqlite_gateway.records()
    assert record.error == "stream cancelled: the client disconnected"
    assert record.metadata["gateway"]["status"] == 499
    assert record.metadata["gateway"]["finish_reason"] == "cancelled"
    [piece] = sse_events(second)
    assert record.response == piece["choices"][0]["delta"]["content"] != ""
    assert first.startswith("data: ") and record.id == call.record_id
    assert record.completion_tokens is not None and record.completion_tokens < 50


def test_a_stream_never_started_is_logged_by_the_background_task(sqlite_gateway, tiny_lm):
    from pellucid.serve.gateway import Sampling
    from pellucid.serve.routers.openai import _log_if_never_started

    gateway = sqlite_gateway.app.state.pellucid.gateway

    class FakeRequest:
        headers: dict[str, str] = {}

    call = gateway.begin(FakeRequest(), "chat.completions", USER, model=tiny_lm.name)
    job = gateway.prepare(call, USER, Sampling(5, 0.0, 1.0, None, ()), chat=True)
    _log_if_never_started(job)
    _log_if_never_started(job)  # idempotent
    [record] = sqlite_gateway.records()
    assert record.error == "the client disconnected before the stream started" and record.response is None
