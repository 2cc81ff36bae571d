"""Server-side cancel for work without progress points: inspect verbs and counterfactuals stop
before their next forward pass once the client has disconnected.

Each test counts the model's forward passes (a pre-hook on the model) in a complete run, then
makes the same request at the ASGI level and disconnects after the first forward pass: the
cancelled run answers 499 and makes only the passes already under way.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.asgi import call_and_leave

#: causal tracing with 100 noise samples: ~50 forward passes on the tiny model
TRACE = ("/api/inspect/trace", {"samples": 100})
#: two prompts answered with up to 160 new tokens each: one forward pass per token
COUNTERFACTUAL = (
    "/api/counterfactuals",
    {"prompt": "Where is the Eiffel Tower?", "edited": "Where is the Colosseum?", "max_new_tokens": 160},
)


class Passes:
    """Counts forward passes of a model; ``started`` is set at the first."""

    def __init__(self) -> None:
        self.count = 0
        self.started = threading.Event()

    def __call__(self, _module: Any, _args: Any) -> None:
        self.count += 1
        self.started.set()


@pytest.fixture()
def passes(tiny_lm) -> Iterator[Passes]:
    counter = Passes()
    handle = tiny_lm.model.register_forward_pre_hook(counter)
    yield counter
    handle.remove()


def _complete_run(app: Any, path: str, body: dict[str, Any], passes: Passes) -> int:
    with TestClient(app) as client:
        res = client.post(path, json=body)
    assert res.status_code == 200, res.text
    return passes.count


@pytest.mark.parametrize("route", [TRACE, COUNTERFACTUAL], ids=["inspect-trace", "counterfactual"])
def test_a_disconnect_stops_before_the_next_forward_pass(app, tiny_lm, passes, route):
    path, body = route
    full = _complete_run(app, path, body, passes)
    assert full >= 20  # enough passes that stopping early is visible
    passes.count = 0
    passes.started.clear()
    messages = asyncio.run(call_and_leave(app, path, body, passes.started))
    start = next(m for m in messages if m["type"] == "http.response.start")
    answer = json.loads(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"))
    assert start["status"] == 499 and answer["error"]["type"] == "Cancelled", answer
    assert "before a forward pass" in answer["error"]["message"]
    assert passes.count < full / 2, (passes.count, full)


def test_guards_register_no_hooks_and_other_threads_are_not_stopped(app, tiny_lm):
    from pellucid.errors import Cancelled
    from pellucid.serve.disconnect import CancelToken

    def hook_count() -> int:
        return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in tiny_lm.model.modules())

    before = hook_count()
    token = CancelToken()
    ids = tiny_lm._tensor([1, 2, 3])
    outcome: dict[str, Any] = {}
    with token.guard(tiny_lm):
        assert hook_count() == before  # the check is read by the hooks installed at load time
        token.event.set()
        other = threading.Thread(target=lambda: outcome.setdefault("logits", tiny_lm.forward(ids).logits))
        other.start()
        other.join()
        with pytest.raises(Cancelled, match="before a forward pass"):
            tiny_lm.forward(ids)
        with pytest.raises(Cancelled):  # the model's own forward, not through LM: stopped at its first block
            tiny_lm.model(ids)
    assert outcome["logits"].shape[-1] == tiny_lm.vocab_size  # another thread ran to the end
    assert hook_count() == before
    tiny_lm.forward(ids)  # after the block: no guard left
