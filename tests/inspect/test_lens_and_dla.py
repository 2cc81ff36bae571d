"""Logit lens (last layer = the model's logits); direct logit attribution (components sum to the logit difference)."""

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.inspect import direct_logit_attribution, lens_logits, logit_lens
from tests.inspect.conftest import CLEAN, FAMILIES, assert_intact


@pytest.mark.parametrize("fixture", FAMILIES)
def test_last_layer_lens_equals_the_model_logits(request, fixture):
    lm = request.getfixturevalue(fixture)
    ids = torch.tensor([lm.encode(CLEAN, chat=False).ids])
    logits, cache = lm.run_with_cache(ids, [f"blocks.{lm.n_layers - 1}.resid_post"])
    torch.testing.assert_close(lens_logits(lm, cache[f"blocks.{lm.n_layers - 1}.resid_post"]), logits)

    ex = logit_lens(lm, CLEAN, target=" Paris", score="logprob", top_k=3)
    target = lm.encode_target(" Paris")[0]
    expected = torch.log_softmax(logits[0].float(), -1)[:, target].numpy()
    np.testing.assert_allclose(ex.scores[-1], expected, atol=1e-5)
    top = torch.softmax(logits[0, -1].float(), -1).topk(3)
    assert [t["id"] for t in ex.meta["top_k"][-1][-1]] == top.indices.tolist()
    assert_intact(lm)


def test_lens_axes_scores_and_defaults(tiny_lm):
    n = len(tiny_lm.encode(CLEAN, chat=False))
    ex = logit_lens(tiny_lm, CLEAN, include_embed=True)
    assert ex.axes == ("layer", "position") and ex.scores.shape == (tiny_lm.n_layers + 1, n)
    assert ex.labels["layer"][0] == "embed"
    assert ((ex.scores >= 0) & (ex.scores <= 1)).all()
    # without a target, the last layer scores the model's own top prediction: rank 1 everywhere
    ranks = logit_lens(tiny_lm, CLEAN, score="rank", layers=[-1])
    np.testing.assert_array_equal(ranks.scores, 1)
    with pytest.raises(UnknownNameError, match="prob, rank"):
        logit_lens(tiny_lm, CLEAN, score="odds")
    with pytest.raises(InvalidInputError, match="Layer 3 does not exist"):
        logit_lens(tiny_lm, CLEAN, layers=[3])


@pytest.mark.parametrize("fixture", FAMILIES)
@pytest.mark.parametrize("by", ["layer", "head"])
def test_dla_components_sum_to_the_real_logit_difference(request, fixture, by):
    lm = request.getfixturevalue(fixture)
    ex = direct_logit_attribution(lm, CLEAN, target=" Paris", foil=" the", by=by)
    ids = torch.tensor([lm.encode(CLEAN, chat=False).ids])
    with torch.no_grad():
        logits = lm.forward(ids).logits[0, -1]
    real = float(logits[lm.encode_target(" Paris")[0]] - logits[lm.encode_target(" the")[0]])
    m = ex.meta
    assert m["logit_diff"] == pytest.approx(real, abs=1e-5)
    total = ex.scores.sum() + m["embed"] + m["bias"] + sum(m.get("mlp", [])) + sum(m.get("attn_bias", []))
    assert total + m["residual"] == pytest.approx(real, abs=1e-6)
    # the decomposition is real: for these blocks almost nothing is left unexplained
    assert abs(m["residual"]) < 1e-4
    assert_intact(lm)


def test_dla_heads_add_up_to_their_layer(tiny_gpt2):
    layers = direct_logit_attribution(tiny_gpt2, CLEAN, target=" Paris", foil=" the", by="layer")
    heads = direct_logit_attribution(tiny_gpt2, CLEAN, target=" Paris", foil=" the", by="head")
    attn = heads.scores.sum(1) + np.array(heads.meta["attn_bias"])  # GPT-2's c_proj has a bias
    np.testing.assert_allclose(attn, layers.scores[:, 0], atol=1e-6)
    np.testing.assert_allclose(heads.meta["mlp"], layers.scores[:, 1], atol=1e-6)
    assert layers.labels["component"] == ["attn", "mlp"] and heads.axes == ("layer", "head")


def test_dla_bad_input(tiny_lm):
    with pytest.raises(InvalidInputError, match="same token"):
        direct_logit_attribution(tiny_lm, CLEAN, target=" Paris", foil=" Paris")
    with pytest.raises(UnknownNameError, match="head, layer"):
        direct_logit_attribution(tiny_lm, CLEAN, target=" Paris", by="neuron")
    with pytest.raises(InvalidInputError, match="target is empty"):
        direct_logit_attribution(tiny_lm, CLEAN, target="")
