"""Ablation: a zero-ablated head equals the same model with that head's W_O columns deleted; errors."""

import copy

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.inspect import ablate
from tests.inspect.conftest import CLEAN, assert_intact


def _prob(model, ids, target):
    with torch.no_grad():
        return float(torch.softmax(model(ids).logits[0, -1].float(), -1)[target])


def test_head_ablation_equals_a_hand_edited_model(tiny_lm):
    ids = torch.tensor([tiny_lm.encode(CLEAN, chat=False).ids])
    target = tiny_lm.encode_target(" Paris")[0]
    ex = ablate(tiny_lm, CLEAN, target=" Paris", what="heads")
    d = tiny_lm.d_head
    for layer in range(tiny_lm.n_layers):
        for head in range(tiny_lm.n_heads):
            edited = copy.deepcopy(tiny_lm.model)
            with torch.no_grad():
                edited.model.layers[layer].self_attn.o_proj.weight[:, head * d : (head + 1) * d] = 0
            expected = _prob(edited, ids, target) - _prob(tiny_lm.model, ids, target)
            assert ex.scores[layer, head] == pytest.approx(expected, abs=1e-7)
    assert ex.axes == ("layer", "head") and ex.meta["original_prob"] == pytest.approx(_prob(tiny_lm.model, ids, target))
    assert_intact(tiny_lm)


def test_layer_ablation_equals_skipping_the_block(tiny_lm):
    ids = torch.tensor([tiny_lm.encode(CLEAN, chat=False).ids])
    target = tiny_lm.encode_target(" Paris")[0]
    ex = ablate(tiny_lm, CLEAN, target=" Paris", what="layers", layers=[1])
    skipped = copy.deepcopy(tiny_lm.model)
    skipped.model.layers[1].forward = lambda hidden_states, *a, **k: hidden_states
    assert ex.scores[0, 0] == pytest.approx(_prob(skipped, ids, target) - _prob(tiny_lm.model, ids, target), abs=1e-7)


def test_joint_and_mean_ablation(tiny_lm):
    single = ablate(tiny_lm, CLEAN, target=" Paris", what="mlp", layers=[0])
    joint = ablate(tiny_lm, CLEAN, target=" Paris", what="mlp", layers=[0], joint=True)
    assert joint.axes == ("ablation",) and joint.scores[0] == pytest.approx(single.scores[0, 0], abs=1e-7)
    mean = ablate(tiny_lm, CLEAN, target=" Paris", what="attn", how="mean", reference=[CLEAN, "Hello there"])
    assert mean.method == "mean_ablation" and mean.scores.shape == (tiny_lm.n_layers, 1)
    both = ablate(tiny_lm, CLEAN, target=" Paris", what="heads", heads=[0, 2], layers=[2], joint=True)
    assert both.labels["ablation"] == ["L2H0 + L2H2"]


def test_neuron_ablation(tiny_lm):
    ex = ablate(tiny_lm, CLEAN, target=" Paris", what="neurons", neurons=["1.5", (2, 7)])
    assert ex.labels["neuron"] == ["L1.N5", "L2.N7"]
    ids = torch.tensor([tiny_lm.encode(CLEAN, chat=False).ids])
    target = tiny_lm.encode_target(" Paris")[0]
    edited = copy.deepcopy(tiny_lm.model)
    with torch.no_grad():
        edited.model.layers[1].mlp.down_proj.weight[:, 5] = 0
    np.testing.assert_allclose(ex.scores[0], _prob(edited, ids, target) - _prob(tiny_lm.model, ids, target), atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(what="heads", heads=[9]), InvalidInputError, r"Head 9 does not exist.*0\.\.3"),
        (dict(what="attn", layers=[-4]), InvalidInputError, r"Layer -4 does not exist"),
        (dict(what="neurons"), InvalidInputError, "needs neurons"),
        (dict(what="neurons", neurons=["1.999"]), InvalidInputError, r"neurons 0\.\.63"),
        (dict(what="neurons", neurons=["x"]), InvalidInputError, "layer.index"),
        (dict(what="experts"), UnknownNameError, "Unknown ablation"),
        (dict(how="random"), UnknownNameError, "mean, zero"),
    ],
)
def test_bad_input(tiny_lm, kwargs, error, match):
    with pytest.raises(error, match=match):
        ablate(tiny_lm, CLEAN, target=" Paris", **kwargs)
    assert_intact(tiny_lm)
