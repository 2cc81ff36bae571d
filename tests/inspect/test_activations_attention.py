"""Activations, neurons and attention views match the cached activations they summarise."""

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.inspect import activations, attention, attention_rollout, head_summary, top_activating_tokens, top_neurons
from tests.inspect.conftest import CLEAN, FAMILIES, assert_intact


@pytest.mark.parametrize("fixture", FAMILIES)
def test_activation_norms_match_the_cache(request, fixture):
    lm = request.getfixturevalue(fixture)
    ids = torch.tensor([lm.encode(CLEAN, chat=False).ids])
    _, cache = lm.run_with_cache(ids, [f"blocks.{i}.mlp.out" for i in range(lm.n_layers)])
    ex = activations(lm, CLEAN, site="mlp.out")
    expected = torch.stack([cache[f"blocks.{i}.mlp.out"][0].norm(dim=-1) for i in range(lm.n_layers)])
    np.testing.assert_allclose(ex.scores, expected.numpy(), rtol=1e-5)
    assert ex.axes == ("layer", "position") and not ex.signed
    mean = activations(lm, CLEAN, site="resid_pre", layers=[0], reduce="mean")
    assert mean.scores.shape == (1, ids.shape[1]) and mean.signed
    assert_intact(lm)


def test_top_neurons_are_the_largest_mlp_activations(tiny_lm):
    ids = torch.tensor([tiny_lm.encode(CLEAN, chat=False).ids])
    _, cache = tiny_lm.run_with_cache(ids, ["blocks.1.mlp.post"])
    values = cache["blocks.1.mlp.post"][0, -1]
    ex = top_neurons(tiny_lm, CLEAN, layers=[1], k=3)
    top = values.topk(3)
    assert ex.labels["neuron"] == [f"L1.N{i}" for i in top.indices.tolist()]
    np.testing.assert_allclose(ex.scores, top.values.numpy(), rtol=1e-6)
    every = top_neurons(tiny_lm, CLEAN, k=5, by="abs", position=2)
    assert len(every.scores) == 5 and np.all(np.diff(np.abs(every.scores)) <= 0)


def test_top_activating_tokens_over_texts_and_files(tiny_lm, tmp_path):
    texts = ["The movie was awful and boring.", "Hello there, how are you today?", CLEAN]
    ex = top_activating_tokens(tiny_lm, texts, neuron="2.7", k=4)
    assert ex.axes == ("example",) and len(ex.scores) == 4 and np.all(np.diff(ex.scores) <= 0)
    best = ex.meta["examples"][0]
    ids = torch.tensor([tiny_lm.encode(texts[best["text_index"]], chat=False).ids])
    _, cache = tiny_lm.run_with_cache(ids, ["blocks.2.mlp.post"])
    assert float(cache["blocks.2.mlp.post"][0, best["position"], 7]) == pytest.approx(ex.scores[0], rel=1e-5)
    assert "«" in ex.labels["example"][0]
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n\n")
    from_file = top_activating_tokens(tiny_lm, path, neuron=(2, 7), k=4)
    np.testing.assert_allclose(from_file.scores, ex.scores, rtol=1e-5)
    assert_intact(tiny_lm)


@pytest.mark.parametrize("fixture", FAMILIES)
def test_attention_weights_are_the_patterns(request, fixture):
    lm = request.getfixturevalue(fixture)
    ids = torch.tensor([lm.encode(CLEAN, chat=False).ids])
    _, cache = lm.run_with_cache(ids, ["blocks.1.attn.pattern"])
    ex = attention(lm, CLEAN, layers=[1], heads=[0, 2])
    assert ex.axes == ("head", "query", "key") and ex.labels["head"] == ["L1H0", "L1H2"]
    np.testing.assert_allclose(ex.scores, cache["blocks.1.attn.pattern"][0, [0, 2]].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ex.scores.sum(-1), 1.0, atol=1e-5)
    assert attention(lm, CLEAN).scores.shape[0] == lm.n_layers * lm.n_heads
    assert_intact(lm)


def test_head_summary_and_rollout(tiny_lm):
    n = len(tiny_lm.encode(CLEAN, chat=False))
    summary = head_summary(tiny_lm, CLEAN)
    assert summary.axes == ("layer", "head") and summary.scores.shape == (tiny_lm.n_layers, tiny_lm.n_heads)
    assert (summary.scores >= 0).all() and (summary.scores <= summary.meta["uniform_entropy"] + 1e-4).all()
    assert np.array(summary.meta["previous_token"]).shape == summary.scores.shape
    rollout = attention_rollout(tiny_lm, CLEAN)
    assert rollout.axes == ("query", "key") and rollout.scores.shape == (n, n)
    np.testing.assert_allclose(rollout.scores.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(rollout.scores, 1), 0)  # causal
    assert rollout.scores[0, 0] == pytest.approx(1.0)


def test_bad_input(tiny_lm):
    with pytest.raises(UnknownNameError, match="Unknown site: 'attn.pattern'"):
        activations(tiny_lm, CLEAN, site="attn.pattern")
    with pytest.raises(UnknownNameError, match="Unknown reduce"):
        activations(tiny_lm, CLEAN, reduce="median")
    with pytest.raises(InvalidInputError, match=r"Head 7 does not exist.*0\.\.3"):
        attention(tiny_lm, CLEAN, heads=[7])
    with pytest.raises(InvalidInputError, match=r"Position 99 does not exist"):
        top_neurons(tiny_lm, CLEAN, position=99)
    with pytest.raises(InvalidInputError, match="does not exist"):
        top_activating_tokens(tiny_lm, "/nonexistent/texts.txt", neuron="1.2")
    with pytest.raises(InvalidInputError, match=r"neurons 0\.\.63"):
        top_activating_tokens(tiny_lm, [CLEAN], neuron="1.64")
    with pytest.raises(InvalidInputError, match="prompt is empty"):
        activations(tiny_lm, "  ")
    assert_intact(tiny_lm)
