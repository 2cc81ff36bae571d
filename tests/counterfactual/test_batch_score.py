"""Batched scoring of different prompts equals one-at-a-time scoring (LM.score) to 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

from pellucid.counterfactual.batch_score import common_prefix, next_token_argmax, score_continuations, score_options

PROMPTS = [
    "The movie was awful.",
    "The movie was excellent and I loved every minute of it, truly.",
    "Is it good?",
    "What is the capital of France?",
    "x",
]
TARGETS = [" Paris", " The capital of France is Paris.", " yes", " no", " awful and boring"]


@pytest.mark.parametrize("batch_tokens,share_prefix", [(16, False), (64, True), (4096, True), (4096, False)])
def test_batched_equals_unbatched(tiny_lm, batch_tokens: int, share_prefix: bool) -> None:
    ids = [tiny_lm.encode(p).ids for p in PROMPTS]
    conts = [tiny_lm.encode_target(t) for t in TARGETS]
    batched = score_continuations(tiny_lm, ids, conts, batch_tokens=batch_tokens, share_prefix=share_prefix)
    for p, t, got in zip(PROMPTS, TARGETS, batched):
        direct = np.array(tiny_lm.score(p, t).logprobs)
        assert got.shape == direct.shape
        np.testing.assert_allclose(got, direct, atol=1e-4)


def test_raw_prompts_without_a_shared_prefix(tiny_lm) -> None:
    ids = [tiny_lm.encode(p, chat=False).ids for p in PROMPTS]
    assert common_prefix(ids) == 0
    got = score_continuations(tiny_lm, ids, [tiny_lm.encode_target(" yes")] * len(ids), batch_tokens=32)
    for p, g in zip(PROMPTS, got):
        np.testing.assert_allclose(g, tiny_lm.score(p, " yes", chat=False).logprobs, atol=1e-4)


def test_options_single_and_multi_token(tiny_lm) -> None:
    ids = [tiny_lm.encode(p).ids for p in PROMPTS]
    for options in ([" yes", " no"], [" Paris", " The capital", " awful"]):
        opt_ids = [tiny_lm.encode_target(o) for o in options]
        table = score_options(tiny_lm, ids, opt_ids, batch_tokens=48)
        assert table.shape == (len(PROMPTS), len(options))
        for i, p in enumerate(PROMPTS):
            direct = [tiny_lm.score(p, o).total for o in options]
            np.testing.assert_allclose(table[i], direct, atol=1e-4)


def test_next_token_argmax_matches_greedy_generation(tiny_lm) -> None:
    ids = [tiny_lm.encode(p).ids for p in PROMPTS[:3]]
    tokens = next_token_argmax(tiny_lm, ids)
    for p, tok in zip(PROMPTS[:3], tokens):
        gen = tiny_lm.generate(p, max_new_tokens=1)
        assert gen.token_ids[:1] == [tok] or gen.finish_reason == "stop"


def test_common_prefix() -> None:
    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix([]) == 0
