"""Pellucid's results equal Captum's on the same model, prompt, target and baseline.

Captum 0.9 is a development dependency; it runs its ``LLMAttribution`` with
``forward_in_tokens=False`` (its configuration that gives correct log-probabilities under
transformers 5.x) and ``LLMGradientAttribution`` over the embedding layer. Every prompt token is
a feature on both sides, and removed tokens become token id 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pellucid.attribution import explain

captum_attr = pytest.importorskip("captum.attr")

PROMPT = "The capital of France is"
TARGET = " Paris."
ALL_SEGMENTS = ("system", "user", "assistant", "template")


def _ours(lm, method: str, **params):
    ex = explain(lm, PROMPT, TARGET, method=method, chat=False, granularity="token", segments=ALL_SEGMENTS, **params)
    scores = np.asarray(ex.scores, dtype=float)
    keep = ~np.isnan(scores[-1])
    return scores[:-1][:, keep], scores[-1][keep]


@pytest.fixture(scope="module")
def setup(tiny_lm):
    inp = captum_attr.TextTokenInput(PROMPT, tiny_lm.tokenizer, baselines=0)
    ids = tiny_lm.tokenizer(PROMPT)["input_ids"]
    assert list(ids) == list(tiny_lm.encode(PROMPT, chat=False).ids), "both sides must see the same tokens"
    return inp, torch.tensor(tiny_lm.encode_target(TARGET))


def test_occlusion_equals_captum_feature_ablation(tiny_lm, setup):
    inp, target = setup
    res = captum_attr.LLMAttribution(captum_attr.FeatureAblation(tiny_lm.model), tiny_lm.tokenizer).attribute(
        inp, target=target, forward_in_tokens=False
    )
    tokens, seq = _ours(tiny_lm, "occlusion", baseline="0")
    np.testing.assert_allclose(tokens, res.token_attr.double().numpy(), atol=1e-4)
    np.testing.assert_allclose(seq, res.seq_attr.double().numpy(), atol=1e-4)
    assert np.abs(seq).max() > 1e-3  # the comparison is not between two zero vectors


def test_grad_x_input_equals_captum(tiny_lm, setup):
    inp, target = setup
    layer = captum_attr.LayerGradientXActivation(tiny_lm.model, tiny_lm.model.get_input_embeddings())
    res = captum_attr.LLMGradientAttribution(layer, tiny_lm.tokenizer).attribute(inp, target=target)
    tokens, seq = _ours(tiny_lm, "grad_x_input")
    np.testing.assert_allclose(tokens, res.token_attr.double().numpy(), atol=1e-4)
    np.testing.assert_allclose(seq, res.seq_attr.double().numpy(), atol=1e-4)


def test_integrated_gradients_equals_captum(tiny_lm, setup):
    inp, target = setup
    layer = captum_attr.LayerIntegratedGradients(tiny_lm.model, tiny_lm.model.get_input_embeddings())
    res = captum_attr.LLMGradientAttribution(layer, tiny_lm.tokenizer).attribute(inp, target=target, n_steps=50)
    tokens, seq = _ours(tiny_lm, "integrated_gradients", baseline="0", steps=50)
    np.testing.assert_allclose(tokens, res.token_attr.double().numpy(), atol=1e-4)
    np.testing.assert_allclose(seq, res.seq_attr.double().numpy(), atol=1e-4)
