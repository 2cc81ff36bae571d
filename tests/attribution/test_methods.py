"""Identities each method must satisfy, on the tiny model, and one contract over all methods."""

import json

import numpy as np
import pytest
import torch

from pellucid.attribution import METHODS, explain
from pellucid.attribution.shapley import all_coalitions, exact_shapley_values
from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.types import Explanation
from tests.support.checks import assert_no_hooks

PROMPT = "What is the capital of France?"
TARGET = " Paris is nice"
FAST = {"integrated_gradients": {"steps": 8}, "lime": {"n_samples": 40}, "kernel_shap": {"n_samples": 40}}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_contract(tiny_lm, method):
    params = FAST.get(method, {})
    ex = explain(tiny_lm, PROMPT, TARGET, method=method, seed=3, **params)
    assert isinstance(ex, Explanation) and ex.axes == ("target", "input")
    assert ex.labels["target"][-1] == "<sequence>" and "".join(ex.labels["target"][:-1]) == TARGET
    attributed = ex.meta["label_info"]["input"]["attributed"]
    assert np.isfinite(ex.scores[:, attributed]).all()
    assert np.isnan(ex.scores[:, [not a for a in attributed]]).all()
    assert "".join(label for label, a in zip(ex.labels["input"], attributed) if a) == PROMPT
    back = Explanation.from_dict(json.loads(json.dumps(ex.to_dict())))
    np.testing.assert_allclose(back.scores, ex.scores, equal_nan=True)
    again = explain(tiny_lm, PROMPT, TARGET, method=method, seed=3, **params)
    np.testing.assert_allclose(again.scores, ex.scores, equal_nan=True, atol=1e-6)
    assert_no_hooks(tiny_lm.model)


def test_leave_one_out_equals_direct_difference(tiny_lm):
    ex = explain(tiny_lm, PROMPT, TARGET, method="occlusion", granularity="word")
    enc = tiny_lm.encode(PROMPT)
    pad = tiny_lm.tokenizer.pad_token_id
    original = tiny_lm.score(PROMPT, TARGET)
    target_ids = tiny_lm.encode_target(TARGET)
    info = ex.meta["label_info"]["input"]
    for unit, (positions, attributed) in enumerate(zip(info["positions"], info["attributed"])):
        if not attributed:
            continue
        ids = list(enc.ids)
        for p in positions:
            ids[p] = pad
        with torch.no_grad():
            logp = torch.log_softmax(tiny_lm.model(torch.tensor([ids + target_ids[:-1]])).logits[0], -1)
        occluded = [float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(target_ids)]
        expected = np.array(original.logprobs) - np.array(occluded)
        np.testing.assert_allclose(ex.scores[:-1, unit], expected, atol=1e-4)
        assert ex.scores[-1, unit] == pytest.approx(expected.sum(), abs=1e-4)


def test_sliding_window_occlusion_averages_windows(tiny_lm):
    one = explain(tiny_lm, PROMPT, " Paris", method="occlusion", granularity="token")
    two = explain(tiny_lm, PROMPT, " Paris", method="occlusion", granularity="token", span=2)
    assert one.scores.shape == two.scores.shape
    assert not np.allclose(np.nan_to_num(one.scores), np.nan_to_num(two.scores))


def test_exact_shapley_known_answer_toy_game():
    """v(S) = 1·x0 + 2·x1 + 0·x2 + 3·x0·x1: φ = (2.5, 3.5, 0) — efficiency, symmetry, dummy."""
    masks = all_coalitions(3)
    x = masks.astype(float)
    v = (x[:, 0] + 2 * x[:, 1] + 3 * x[:, 0] * x[:, 1])[:, None]
    phi = exact_shapley_values(masks, v)[0]
    np.testing.assert_allclose(phi, [2.5, 3.5, 0.0], atol=1e-12)
    assert phi.sum() == pytest.approx(v[-1, 0] - v[0, 0])
    sym = (x[:, 0] + x[:, 1] + x[:, 0] * x[:, 1])[:, None]  # players 0 and 1 interchangeable
    phi_sym = exact_shapley_values(masks, sym)[0]
    assert phi_sym[0] == pytest.approx(phi_sym[1]) and phi_sym[2] == pytest.approx(0, abs=1e-12)


def test_shapley_efficiency_on_model(tiny_lm):
    """Σφ = v(N) − v(∅) for every row, with v(∅) computed directly (all user tokens replaced)."""
    ex = explain(tiny_lm, PROMPT, TARGET, method="shapley")
    assert ex.meta["efficiency_gap"] < 1e-8
    enc = tiny_lm.encode(PROMPT)
    target_ids = tiny_lm.encode_target(TARGET)

    def values(ids):
        with torch.no_grad():
            logp = torch.log_softmax(tiny_lm.model(torch.tensor([ids + target_ids[:-1]])).logits[0], -1)
        per_token = [float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(target_ids)]
        return np.array([*per_token, sum(per_token)])

    empty = [tiny_lm.tokenizer.pad_token_id if s == "user" else i for i, s in zip(enc.ids, enc.segments)]
    np.testing.assert_allclose(np.nansum(ex.scores, axis=1), values(enc.ids) - values(empty), atol=1e-4)


def test_kernel_shap_converges_to_exact(tiny_lm):
    exact = explain(tiny_lm, PROMPT, TARGET, method="shapley")
    exhaustive = explain(tiny_lm, PROMPT, TARGET, method="kernel_shap", n_samples=2**7)
    assert exhaustive.meta["exhaustive"]
    np.testing.assert_allclose(exhaustive.scores, exact.scores, atol=1e-6, equal_nan=True)
    errors = []
    for n in (16, 64, 120):
        est = explain(tiny_lm, PROMPT, TARGET, method="kernel_shap", n_samples=n, granularity="token", seed=1)
        ref = explain(tiny_lm, PROMPT, TARGET, method="shapley", granularity="token")
        errors.append(np.nanmean(np.abs(est.scores - ref.scores)))
        assert est.meta["efficiency_gap"] < 1e-8
    assert errors[-1] < errors[0]


def test_ig_completeness_improves_with_steps(tiny_lm):
    residuals = [
        explain(tiny_lm, PROMPT, TARGET, method="integrated_gradients", steps=s).meta["completeness_residual"]
        for s in (4, 32, 256)
    ]
    assert residuals[2] < 0.01
    assert residuals[2] <= residuals[0]


def test_ig_sum_equals_f_difference(tiny_lm):
    ex = explain(tiny_lm, PROMPT, TARGET, method="integrated_gradients", steps=256, baseline="pad")
    delta = np.array(ex.meta["f_input"]) - np.array(ex.meta["f_baseline"])
    np.testing.assert_allclose(np.nansum(ex.scores, axis=1), delta, rtol=0.02, atol=1e-3)


def test_grad_x_input_equals_manual_gradient(tiny_lm):
    ex = explain(tiny_lm, "Hello there", " how", method="grad_x_input", granularity="token")
    enc = tiny_lm.encode("Hello there")
    target = tiny_lm.encode_target(" how")
    emb = tiny_lm.embed(torch.tensor([enc.ids + target[:-1]])).detach().requires_grad_(True)
    logp = torch.log_softmax(tiny_lm.forward(inputs_embeds=emb).logits[0, len(enc.ids) - 1], -1)[target[0]]
    logp.backward()
    manual = (emb.grad[0] * emb[0]).sum(-1).detach().numpy()
    for unit, positions in enumerate(ex.meta["label_info"]["input"]["positions"]):
        if ex.meta["label_info"]["input"]["attributed"][unit]:
            assert ex.scores[0, unit] == pytest.approx(manual[positions].sum(), abs=1e-5)


def test_contrastive_occlusion_is_difference(tiny_lm):
    both = explain(tiny_lm, PROMPT, " Paris", method="occlusion", foil=" London")
    target = explain(tiny_lm, PROMPT, " Paris", method="occlusion")
    foil = explain(tiny_lm, PROMPT, " London", method="occlusion")
    np.testing.assert_allclose(both.scores[-1], target.scores[-1] - foil.scores[-1], atol=1e-4, equal_nan=True)
    assert both.labels["target"][-1] == "<target − foil>"


def test_generated_target_is_explained(tiny_lm):
    ex = explain(tiny_lm, PROMPT, method="occlusion", max_new_tokens=3)
    generated = tiny_lm.generate(PROMPT, max_new_tokens=3)
    assert ex.meta["generated"] and ex.meta["target_token_ids"] == generated.token_ids
    assert len(ex.labels["target"]) == len(generated.token_ids) + 1


@pytest.mark.parametrize("granularity", ["token", "word", "sentence", "segment"])
def test_granularities_cover_the_user_message(tiny_lm, granularity):
    ex = explain(tiny_lm, "Hello there. How are you?", " fine", method="occlusion", granularity=granularity)
    attributed = [label for label, a in zip(ex.labels["input"], ex.meta["label_info"]["input"]["attributed"]) if a]
    assert "".join(attributed) == "Hello there. How are you?"
    expected = {"segment": 1, "sentence": 2, "word": 7}.get(granularity)
    if expected:
        assert len(attributed) == expected


def test_bad_inputs(tiny_lm):
    with pytest.raises(UnknownNameError, match="Available: attention, attention_rollout"):
        explain(tiny_lm, PROMPT, TARGET, method="magic")
    with pytest.raises(InvalidInputError, match="target is empty"):
        explain(tiny_lm, PROMPT, "", method="occlusion")
    with pytest.raises(InvalidInputError, match="no tokens in the attributed segments"):
        explain(tiny_lm, PROMPT, TARGET, method="occlusion", segments=("assistant",))
    with pytest.raises(InvalidInputError, match="limit is 3 features.*kernel_shap"):
        explain(tiny_lm, PROMPT, TARGET, method="shapley", max_features=3)
    with pytest.raises(InvalidInputError, match="has no parameter 'stepz'; its parameters: steps"):
        explain(tiny_lm, PROMPT, TARGET, method="integrated_gradients", stepz=3)
    with pytest.raises(InvalidInputError, match="target_kind"):
        explain(tiny_lm, PROMPT, TARGET, target_kind="odds")


def test_target_note_explains_an_odd_split(tiny_lm):
    glued = explain(tiny_lm, "The capital of France is", "Paris", method="occlusion", chat=False)
    assert "no space" in glued.meta["target_note"] and "' Paris'" in glued.meta["target_note"]
    spaced = explain(tiny_lm, "The capital of France is", " Paris", method="occlusion", chat=False)
    assert spaced.meta["target_note"] is None
    # a trailing space in the prompt: alone, 'Paris' is two tokens; in context the text ends in ' Paris' (one)
    trailing = explain(tiny_lm, "The capital of France is ", "Paris", method="occlusion", chat=False)
    assert len(trailing.meta["target_token_ids"]) == 2
    assert "would split the same text as [' Paris']" in trailing.meta["target_note"]
