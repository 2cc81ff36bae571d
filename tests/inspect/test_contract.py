"""One contract for every inspect method: an Explanation that round-trips through JSON, no hook left
(after success and after a failure), and the same result twice."""

import json

import numpy as np
import pytest

from pellucid import inspect as pi
from pellucid.types import Explanation
from tests.inspect.conftest import CLEAN, CORRUPTED, assert_intact

CALLS = {
    "activations": lambda lm: pi.activations(lm, CLEAN),
    "top_neurons": lambda lm: pi.top_neurons(lm, CLEAN, k=4),
    "top_activating_tokens": lambda lm: pi.top_activating_tokens(lm, [CLEAN, "Hello there"], neuron="1.3", k=3),
    "attention": lambda lm: pi.attention(lm, CLEAN, layers=[0]),
    "head_summary": lambda lm: pi.head_summary(lm, CLEAN),
    "attention_rollout": lambda lm: pi.attention_rollout(lm, CLEAN),
    "logit_lens": lambda lm: pi.logit_lens(lm, CLEAN, target=" Paris"),
    "direct_logit_attribution": lambda lm: pi.direct_logit_attribution(lm, CLEAN, target=" Paris", foil=" the"),
    "patch": lambda lm: pi.patch(lm, CLEAN, CORRUPTED, target=" Paris", foil=" the"),
    "trace": lambda lm: pi.trace(lm, CLEAN, target=" Paris", subject="Eiffel", samples=2),
    "attribution_patch": lambda lm: pi.attribution_patch(lm, CLEAN, CORRUPTED, target=" Paris", foil=" the"),
    "ablate": lambda lm: pi.ablate(lm, CLEAN, target=" Paris", what="mlp"),
    "probe": lambda lm: pi.probe(
        lm,
        pi.LabelledData([f"{w} film {i}" for i, w in enumerate(["good", "bad"] * 6)], ["1", "0"] * 6, "sentence"),
        cv=2,
    ),
    "steer": lambda lm: pi.steer(
        lm, "Hello", direction=np.ones(lm.d_model), layer=0, coefficients=[0, 1], max_new_tokens=3
    ),
}


def test_every_public_method_is_covered():
    methods = {
        "activations",
        "top_neurons",
        "top_activating_tokens",
        "attention",
        "head_summary",
        "attention_rollout",
        "logit_lens",
        "direct_logit_attribution",
        "patch",
        "trace",
        "attribution_patch",
        "ablate",
        "probe",
        "steer",
    }
    assert methods == set(CALLS) and methods <= set(pi.__all__)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_contract(tiny_lm, name):
    ex = CALLS[name](tiny_lm)
    assert isinstance(ex, Explanation) and ex.model == tiny_lm.name
    assert all(ex.labels[a] for a in ex.axes) and ex.scores.size > 0
    again = Explanation.from_dict(json.loads(ex.to_json()))
    np.testing.assert_array_equal(again.scores, ex.scores)
    assert again.axes == ex.axes and again.labels == ex.labels
    np.testing.assert_array_equal(CALLS[name](tiny_lm).scores, ex.scores)  # deterministic
    assert "seconds" in ex.meta and "forward_passes" in ex.meta
    assert_intact(tiny_lm)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_hook_after_a_failure_inside(tiny_lm, name, monkeypatch):
    """Make block 0 fail while the method runs: hooks it attached must still be removed."""
    block = tiny_lm.model.get_submodule(f"{tiny_lm.arch.blocks}.0")
    real, calls = block.forward, {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 1:
            raise RuntimeError("block failed on purpose")
        return real(*args, **kwargs)

    monkeypatch.setattr(block, "forward", failing)
    with pytest.raises(RuntimeError, match="on purpose"):
        CALLS[name](tiny_lm)
    assert_intact(tiny_lm)
