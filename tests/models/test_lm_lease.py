"""The lease through ``LM``: a hook in one thread never reaches another thread's forward pass.

The central test runs greedy generation in one thread while another thread ablates an MLP
output in a loop, and checks every generated token id. A companion test runs the same race with
the lease bypassed (hooks attached by the raw ``hooks.attach``) and sees the generations change,
so the first test is one that can fail. The model is the tiny Llama with heavy MLPs
(:func:`tests.support.race.mlp_heavy`), where zeroing one MLP output changes the greedy text.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from pellucid.errors import Cancelled, InvalidInputError
from pellucid.models import hooks as raw_hooks
from pellucid.models.lease import LeaseTimeout
from tests.inspect.conftest import assert_intact
from tests.support.race import SITE, Spans, in_thread, mlp_heavy, zero

PROMPT = [{"role": "user", "content": "Hello there"}]
TOKENS = 24
FREE = {"shared": 0, "exclusive": 0, "waiting": 0, "waiting_shared": 0}


@pytest.fixture(scope="module")
def heavy(tiny_lm):
    return mlp_heavy(tiny_lm)


@pytest.fixture(scope="module")
def expected(heavy) -> list[int]:
    """The undisturbed greedy ids, and a check that the ablation would change them."""
    clean = heavy.generate(PROMPT, max_new_tokens=TOKENS).token_ids
    with heavy.hooks({SITE: zero}):
        ablated = heavy.generate(PROMPT, max_new_tokens=TOKENS).token_ids
    assert ablated != clean and len(clean) == TOKENS  # a leaked ablation would show in the ids
    return clean


def generations(lm: Any, rounds: int, spans: Spans) -> list[list[int]]:
    """Greedy answers, alternately from ``generate`` and ``stream`` (the gateway's path)."""
    out = []
    for i in range(rounds):
        start = time.perf_counter()
        if i % 2:
            stream = lm.stream(PROMPT, max_new_tokens=TOKENS)
            "".join(stream)
            out.append(stream.token_ids)
        else:
            out.append(lm.generate(PROMPT, max_new_tokens=TOKENS).token_ids)
        spans.record(start)
    return out


def test_an_ablation_in_one_thread_never_changes_another_threads_generation(heavy, expected):
    ids = heavy._tensor(heavy.encode(PROMPT).ids)
    with heavy.hooks({SITE: zero}):
        ablated_logits = heavy.forward(ids).logits
    done, ablation_spans, generation_spans = threading.Event(), Spans(), Spans()

    def ablate() -> int:
        runs = 0
        while not done.is_set():
            start = time.perf_counter()
            with heavy.hooks({SITE: zero}):
                logits = heavy.forward(ids).logits
            ablation_spans.record(start)
            torch.testing.assert_close(logits, ablated_logits)  # the ablating thread is not disturbed either
            runs += 1
        return runs

    thread, box = in_thread(ablate)
    try:
        answers = generations(heavy, 6, generation_spans)
    finally:
        done.set()
        thread.join(60)
    assert "error" not in box, box.get("error")
    assert all(answer == expected for answer in answers), [a for a in answers if a != expected]
    assert box["value"] >= 3
    # the two loops really contended: ablations were asked for while generations were running
    assert ablation_spans.overlapping(generation_spans) >= 2
    assert_intact(heavy)
    assert heavy._lease.state() == FREE


def test_the_same_race_without_the_lease_changes_the_generations(heavy, expected):
    """Control: hooks attached without the lease leak into the other thread's answers."""
    ids = heavy._tensor(heavy.encode(PROMPT).ids)
    done = threading.Event()

    def ablate_unleased() -> None:
        while not done.is_set():
            with raw_hooks.attach([(heavy.site(SITE), zero)]):
                for _ in range(3):
                    heavy.forward(ids)

    thread, box = in_thread(ablate_unleased)
    answers: list[list[int]] = []
    try:
        for _ in range(10):
            answers += generations(heavy, 1, Spans())
            if answers[-1] != expected:
                break
    finally:
        done.set()
        thread.join(60)
    assert "error" not in box, box.get("error")
    assert any(answer != expected for answer in answers)
    assert_intact(heavy)


def test_hooks_hold_other_threads_back_but_run_their_own_forwards(tiny_lm):
    ids = tiny_lm._tensor(tiny_lm.encode("Hello there", chat=False).ids)
    clean = tiny_lm.forward(ids).logits
    with tiny_lm.hooks({SITE: zero}):
        edited = tiny_lm.forward(ids).logits  # reentrant: this thread holds the exclusive lease
        thread, box = in_thread(lambda: tiny_lm.lease(timeout=0.05).__enter__())
        thread.join(30)
        assert isinstance(box.get("error"), LeaseTimeout)
    assert not torch.allclose(clean, edited)
    torch.testing.assert_close(tiny_lm.forward(ids).logits, clean)
    assert tiny_lm._lease.state() == FREE


def test_no_hooks_or_cuts_remain_after_success_and_after_an_exception(tiny_lm):
    from pellucid.models.relevance import relevance_layout

    ids = tiny_lm._tensor(tiny_lm.encode("Hello there", chat=False).ids)
    layout = relevance_layout(tiny_lm.model, tiny_lm.model_type)
    changes = {
        "hooks": lambda: tiny_lm.hooks({SITE: zero, "blocks.0.resid_pre": lambda x, s: None}),
        "blocks_from": lambda: tiny_lm.blocks_from(1),
        "replace_outputs": lambda: tiny_lm.replace_outputs([(m, lambda _m, _x, y: y) for m in layout.linears]),
    }
    for name, change in changes.items():
        with change():
            tiny_lm.forward(ids)
        assert_intact(tiny_lm)
        with pytest.raises(RuntimeError, match="on purpose"):
            with change():
                tiny_lm.forward(ids)
                raise RuntimeError(f"{name} failed on purpose")
        assert_intact(tiny_lm)
        assert tiny_lm._lease.state() == FREE, name
    tiny_lm.run_with_cache(ids, [SITE])
    assert_intact(tiny_lm)


def test_blocks_from_cuts_the_list_for_its_own_thread_only(tiny_lm):
    blocks = tiny_lm.model.get_submodule(tiny_lm.arch.blocks)
    with tiny_lm.blocks_from(1):
        assert len(tiny_lm.model.get_submodule(tiny_lm.arch.blocks)) == tiny_lm.n_layers - 1
        thread, box = in_thread(lambda: tiny_lm.lease(timeout=0.05).__enter__())
        thread.join(30)
        assert isinstance(box.get("error"), LeaseTimeout)
    assert tiny_lm.model.get_submodule(tiny_lm.arch.blocks) is blocks
    with pytest.raises(InvalidInputError, match=r"blocks_from\(3\).*0\.\.2"):
        with tiny_lm.blocks_from(tiny_lm.n_layers):
            pass


def test_asking_for_hooks_or_a_stream_while_holding_the_lease_raises(tiny_lm):
    with tiny_lm.lease():
        with pytest.raises(RuntimeError, match="shared lease of .* asks for the exclusive one"):
            with tiny_lm.hooks({SITE: zero}):
                pass
    with tiny_lm.hooks({SITE: zero}):
        with pytest.raises(RuntimeError, match="holds the exclusive lease .* Use lm.generate"):
            list(tiny_lm.stream(PROMPT, max_new_tokens=4))
    assert tiny_lm._lease.state() == FREE


def test_a_stream_holds_the_shared_lease_until_it_ends_is_closed_or_fails(tiny_lm, monkeypatch):
    stream = tiny_lm.stream(PROMPT, max_new_tokens=200)
    pieces = iter(stream)
    next(pieces)
    assert tiny_lm._lease.state()["shared"] == 1  # the generation thread holds it
    pieces.close()
    assert stream.finish_reason == "cancelled" and tiny_lm._lease.state() == FREE
    "".join(tiny_lm.stream(PROMPT, max_new_tokens=3))
    assert tiny_lm._lease.state() == FREE

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("generation failed on purpose")

    monkeypatch.setattr(tiny_lm.model, "generate", broken)
    with pytest.raises(RuntimeError, match="on purpose"):
        "".join(tiny_lm.stream(PROMPT, max_new_tokens=3))
    assert tiny_lm._lease.state() == FREE


def test_a_cancel_check_stops_its_own_thread_only(heavy, expected):
    blocks_seen = {"n": 0}

    def check() -> None:
        blocks_seen["n"] += 1
        if blocks_seen["n"] > 10:
            raise Cancelled("stopped on purpose")

    def cancelled_work() -> None:
        with heavy.cancel_check(check), heavy.hooks({SITE: zero}):  # as an inspect request runs
            heavy.generate(PROMPT, max_new_tokens=200)

    thread, box = in_thread(cancelled_work)
    answers = generations(heavy, 2, Spans())
    thread.join(60)
    assert isinstance(box.get("error"), Cancelled)
    assert 10 < blocks_seen["n"] < 200 * heavy.n_layers  # stopped early, block by block
    assert answers == [expected, expected]  # the other thread ran to the end, unaffected
    assert_intact(heavy)
    assert heavy._lease.state() == FREE
    assert heavy.generate(PROMPT, max_new_tokens=TOKENS).token_ids == expected  # no check left behind
