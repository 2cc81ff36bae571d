"""Serving and inspecting one model at once, over HTTP in-process.

The gateway answers greedy chat completions in one thread while another thread sends inspect
ablations of the same model; every answer must be the undisturbed one. The model is the tiny Llama
with heavy MLPs (:func:`tests.support.race.mlp_heavy`), on which any MLP ablation leaking into a
generation would change the greedy text (checked first). A cancelled inspect request stops, and the
answers served meanwhile are untouched.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.inspect.conftest import assert_intact
from tests.serve.conftest import Gateway, make_gateway
from tests.support.asgi import call_and_leave
from tests.support.race import Spans, in_thread, mlp_heavy, zero

CHAT = "Hello there"
TOKENS = 24
ABLATE = {"prompt": "The Eiffel Tower is located in the city of", "target": " Paris", "what": "mlp"}
TRACE = {"samples": 100}


@pytest.fixture(scope="module")
def heavy(tiny_lm):
    return mlp_heavy(tiny_lm)


@pytest.fixture()
def served(heavy, settings, tmp_path) -> Iterator[Gateway]:
    yield from make_gateway(heavy, settings, f"sqlite:///{tmp_path / 'gw.db'}")


@pytest.fixture(scope="module")
def expected(heavy) -> str:
    """The undisturbed greedy answer; an MLP ablation of any layer would change it."""
    messages = [{"role": "user", "content": CHAT}]
    clean = heavy.generate(messages, max_new_tokens=TOKENS)
    for layer in range(heavy.n_layers):
        with heavy.hooks({f"blocks.{layer}.mlp.out": zero}):
            assert heavy.generate(messages, max_new_tokens=TOKENS).token_ids != clean.token_ids
    return clean.text


def chats(served: Gateway, rounds: int, spans: Spans) -> list[str]:
    answers = []
    for _ in range(rounds):
        start = time.perf_counter()
        res = served.chat(CHAT, max_tokens=TOKENS, temperature=0)
        spans.record(start)
        assert res.status_code == 200, res.text
        answers.append(res.json()["choices"][0]["message"]["content"])
    return answers


def test_gateway_answers_are_untouched_by_concurrent_inspect_ablations(served, heavy, expected):
    done, ablation_spans, chat_spans = threading.Event(), Spans(), Spans()

    runs = [0]

    def ablate() -> int:
        while not done.is_set():
            start = time.perf_counter()
            res = served.client.post("/api/inspect/ablate", json=ABLATE)
            ablation_spans.record(start)
            assert res.status_code == 200, res.text
            runs[0] += 1
        return runs[0]

    thread, box = in_thread(ablate)
    answers: list[str] = []
    try:
        # at least 4 answers, and on until 2 ablations have run beside them (bounded: a loaded machine is slow)
        while len(answers) < 4 or (runs[0] < 2 and len(answers) < 16 and "error" not in box):
            answers += chats(served, 1, chat_spans)
    finally:
        done.set()
        thread.join(120)
    assert "error" not in box, box.get("error")
    assert answers == [expected] * len(answers)
    assert box["value"] >= 2 and ablation_spans.overlapping(chat_spans) >= 1  # the requests did run together
    assert_intact(heavy)


def test_a_cancelled_inspect_request_stops_and_the_gateway_keeps_answering(served, heavy, expected):
    started = threading.Event()

    def first_hooked_pass(_module: Any, _args: Any) -> None:
        if heavy._lease.held() == "exclusive":  # the trace's passes, not the gateway's
            started.set()

    handle = heavy.model.register_forward_pre_hook(first_hooked_pass)
    done, chat_spans = threading.Event(), Spans()

    def chat_loop() -> list[str]:
        answers = []
        while not done.is_set() or not answers:
            answers += chats(served, 1, chat_spans)
        return answers

    thread, box = in_thread(chat_loop)
    try:
        messages = asyncio.run(call_and_leave(served.app, "/api/inspect/trace", TRACE, started))
    finally:
        done.set()
        thread.join(120)
        handle.remove()
    start = next(m for m in messages if m["type"] == "http.response.start")
    answer = json.loads(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"))
    assert start["status"] == 499 and answer["error"]["type"] == "Cancelled", answer
    assert "error" not in box, box.get("error")
    assert box["value"] and all(text == expected for text in box["value"])
    assert_intact(heavy)
    assert heavy._lease.state()["exclusive"] == 0
