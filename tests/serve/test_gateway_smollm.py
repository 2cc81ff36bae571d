"""The bundled SmolLM2 through /v1/chat/completions: the France question, logged with every field."""

from __future__ import annotations

import dataclasses

import pytest

from tests.serve.conftest import make_gateway

pytestmark = pytest.mark.integration


@pytest.fixture()
def smol_gateway(smollm, settings, tmp_path):
    yield from make_gateway(smollm, settings, f"sqlite:///{tmp_path / 'smol.db'}", redact_pii=True)


def test_france_question_is_answered_and_logged_with_every_field(smol_gateway, smollm):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    res = smol_gateway.client.post(
        "/v1/chat/completions",
        json={
            "model": smollm.name,
            "messages": messages,
            "temperature": 0,
            "max_tokens": 30,
            "seed": 0,
            "user": "tester",
            "metadata": {"suite": "integration"},
            "cache": True,
        },
        headers={"X-Pellucid-Session": "smol-session", "X-Pellucid-Tags": "integration"},
    )
    assert res.status_code == 200
    body = res.json()
    answer = body["choices"][0]["message"]["content"]
    assert "Paris" in answer and body["choices"][0]["finish_reason"] == "stop"

    [record] = smol_gateway.records()
    assert record.id == res.headers["X-Pellucid-Record-Id"] == body["pellucid"]["record_id"]
    assert record.prompt == messages and record.response == answer
    assert record.model == smollm.name and record.model_version == smollm.version
    assert record.template_version == smollm.template_version
    assert 0 < record.ttft_ms < record.latency_ms
    assert record.prompt_tokens == body["usage"]["prompt_tokens"] == len(smollm.encode(messages))
    assert record.completion_tokens == body["usage"]["completion_tokens"] > 0
    assert record.params == {"max_tokens": 30, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": [], "stream": False}
    assert (record.user_id, record.session_id, record.tags) == ("tester", "smol-session", ("integration",))
    assert record.metadata["suite"] == "integration" and record.metadata["gateway"]["cache"] == "miss"
    assert record.cache_hit is False and len(record.cache_key) == 64
    assert record.redaction == {"applied": True, "prompt": {}, "response": {}}
    assert record.language == "en" and record.flags == {}
    assert record.error is None  # the one field a successful call leaves empty, with the trace ids below
    # trace ids come with spans an instrumented application sends (POST /v1/traces), not with direct calls
    not_set_by_local_calls = ("error", "flags", "feedback", "metrics", "trace_id", "span_id", "parent_span_id")
    empty = [
        f.name
        for f in dataclasses.fields(record)
        if getattr(record, f.name) in (None, "", [], {}, ()) and f.name not in not_set_by_local_calls
    ]
    assert empty == []
