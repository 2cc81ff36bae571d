"""Continuous batching behind ``/v1``: answers equal unbatched ones, a full queue is a 429 with ``Retry-After``,
a client that leaves frees its slot, ``/api/serving`` reports each engine, and (integration) SmolLM2 through
the official ``openai`` SDK answers four concurrent streams as it answers them one at a time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from tests.serve.conftest import Gateway, make_gateway, sse_events
from tests.support.asgi import call_and_leave
from tests.support.race import mlp_heavy

PROMPTS = ["Hello there", "The capital of France is a city that", "a", "one two three four five six"]


@pytest.fixture(scope="module")
def heavy(tiny_lm):
    return mlp_heavy(tiny_lm)


@contextmanager
def gateway_of(heavy: Any, settings: Any, tmp_path: Any, **overrides: Any) -> Iterator[Gateway]:
    yield from make_gateway(heavy, settings, f"sqlite:///{tmp_path / 'gw.db'}", **overrides)


@pytest.fixture()
def one_slot(heavy, settings, tmp_path) -> Iterator[Gateway]:
    yield from make_gateway(heavy, settings, f"sqlite:///{tmp_path / 'gw.db'}", max_batch=1, max_queue=0)


def engine_of(gw: Gateway) -> Any:
    return gw.app.state.pellucid.models.engine(gw.model)


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_concurrent_calls_equal_their_unbatched_greedy_answers(heavy, settings, tmp_path):
    with gateway_of(heavy, settings, tmp_path, max_batch=3) as gw:
        with ThreadPoolExecutor(len(PROMPTS)) as pool:
            answers = list(pool.map(lambda p: gw.chat(p, max_tokens=16, temperature=0), PROMPTS))
        for prompt, res in zip(PROMPTS, answers):
            assert res.status_code == 200, res.text
            want = heavy.generate([{"role": "user", "content": prompt}], max_new_tokens=16)
            assert res.json()["choices"][0]["message"]["content"] == want.text
            assert res.json()["usage"]["completion_tokens"] == len(want.token_ids)
        figures = gw.client.get("/api/serving").json()
        assert figures["batching"] is True
        [model] = figures["models"]
        assert model["model"] == gw.model and model["served"] == len(PROMPTS) and model["max_batch"] == 3
        assert model["generated_tokens"] == sum(r.json()["usage"]["completion_tokens"] for r in answers)
        assert 0 < model["ttft_p50_ms"] <= model["ttft_p95_ms"] and model["queued"] == 0


def test_a_full_queue_answers_429_with_retry_after_in_openai_shape(one_slot, heavy):
    first: dict[str, Any] = {}
    with heavy.lease(exclusive=True):  # the engine cannot run a step: the first call holds the one slot
        thread = threading.Thread(target=lambda: first.update(res=one_slot.chat(PROMPTS[0], max_tokens=4)))
        thread.start()
        engine = engine_of(one_slot)
        wait_for(lambda: engine.metrics().running == 1, "the first call to take the slot")
        refused = one_slot.chat(PROMPTS[1], max_tokens=4)
    thread.join(60)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "server_busy"
    assert "queue holds at most 0" in error["message"] and "PELLUCID_MAX_QUEUE" in error["message"]
    assert first["res"].status_code == 200
    records = one_slot.records()
    assert sorted(r.metadata["gateway"]["status"] for r in records) == [200, 429]
    assert one_slot.client.get("/api/serving").json()["models"][0]["rejected"] == 1


def slow_steps(lm: Any, seconds: float = 0.004) -> None:
    """Each forward of ``lm`` takes ``seconds`` longer, so a 150-token answer outlasts the few
    milliseconds a disconnect takes to reach the engine, whatever the machine's load."""
    forward = lm.model.forward

    def slowed(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return forward(*args, **kwargs)

    lm.model.forward = slowed


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "non-streamed"])
def test_a_client_that_leaves_frees_its_slot_for_the_next_queued_call(heavy, settings, tmp_path, stream):
    slow_steps(heavy)  # the left call must still be decoding when its client's disconnect arrives
    with gateway_of(heavy, settings, tmp_path, max_batch=1, max_queue=2) as gw:
        engine = engine_of(gw)
        started = threading.Event()
        watcher = threading.Thread(
            target=lambda: (wait_for(lambda: engine.stats.generated_tokens >= 3, "streamed tokens"), started.set())
        )
        watcher.start()
        body = {"model": gw.model, "messages": [{"role": "user", "content": PROMPTS[3]}], "max_tokens": 150}
        queued: dict[str, Any] = {}

        def second() -> None:
            started.wait(60)
            queued["res"] = gw.chat(PROMPTS[0], max_tokens=6, temperature=0)

        thread = threading.Thread(target=second)
        thread.start()
        messages = asyncio.run(call_and_leave(gw.app, "/v1/chat/completions", {**body, "stream": stream}, started))
        thread.join(60)
        watcher.join(60)
        assert queued["res"].status_code == 200
        want = heavy.generate([{"role": "user", "content": PROMPTS[0]}], max_new_tokens=6)
        assert queued["res"].json()["choices"][0]["message"]["content"] == want.text
        wait_for(lambda: engine.metrics().cancelled == 1, "the left call to be counted")
        [start] = [m for m in messages if m["type"] == "http.response.start"]
        assert engine.stats.generated_tokens < 150 and start["status"] == (200 if stream else 499)
        left = [r for r in gw.records() if r.metadata["gateway"]["status"] == 499]
        assert len(left) == 1 and left[0].completion_tokens < 150


def test_batching_off_keeps_the_thread_per_request_path(heavy, settings, tmp_path):
    with gateway_of(heavy, settings, tmp_path, batching=False) as gw:
        res = gw.chat(PROMPTS[1], max_tokens=10, temperature=0, stream=True)
        text = "".join(
            e["choices"][0]["delta"].get("content", "") for e in sse_events(res.text)[:-1] if e.get("choices")
        )
        assert text == heavy.generate([{"role": "user", "content": PROMPTS[1]}], max_new_tokens=10).text
        assert gw.client.get("/api/serving").json() == {"batching": False, "models": []}


@pytest.mark.integration
def test_smollm_four_concurrent_sdk_streams_equal_their_one_at_a_time_answers(smollm, settings, tmp_path):
    from openai import OpenAI

    from tests.support.loopback import serving

    questions = [
        "What is the capital of France?",
        "Name three primary colours.",
        "Write one sentence about the sea.",
        "What is two plus two?",
    ]
    with contextmanager(make_gateway)(smollm, settings, f"sqlite:///{tmp_path / 'smol.db'}") as gw:
        with serving(gw.app) as url:
            client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)

            def ask(question: str) -> str:
                stream = client.chat.completions.create(
                    model=smollm.name,
                    messages=[{"role": "user", "content": question}],
                    max_tokens=32,
                    temperature=0,
                    stream=True,
                )
                return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

            alone = [ask(q) for q in questions]
            with ThreadPoolExecutor(len(questions)) as pool:
                together = list(pool.map(ask, questions))
        assert together == alone
        assert "Paris" in alone[0]
        assert alone == [smollm.generate([{"role": "user", "content": q}], max_new_tokens=32).text for q in questions]
