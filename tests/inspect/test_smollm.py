"""Integration on the bundled SmolLM2-135M-Instruct: the issue's checks on a real model."""

import numpy as np
import pytest

from pellucid import inspect as pi
from tests.inspect.conftest import assert_intact

pytestmark = pytest.mark.integration

EIFFEL = "The Eiffel Tower is located in the city of"
COLOSSEUM = "The Colosseum is located in the city of"  # 10 tokens, like EIFFEL


def test_logit_lens_last_layer_is_the_model_output(smollm):
    ex = pi.logit_lens(smollm, EIFFEL, target=" Paris", positions=[-1], layers=[0, 15, 29])
    p_model = float(np.exp(smollm.score(EIFFEL, " Paris", chat=False).logprobs[0]))
    assert ex.scores[-1, 0] == pytest.approx(p_model, abs=1e-4)
    assert ex.meta["top_k"][-1][0][0]["token"] == " Paris"
    assert ex.scores[0, 0] < 0.01  # the answer is not readable from layer 0
    assert_intact(smollm)


def test_dla_components_sum_to_the_logit_difference(smollm):
    ex = pi.direct_logit_attribution(smollm, EIFFEL, target=" Paris", foil=" Rome", by="head")
    m = ex.meta
    total = ex.scores.sum() + m["embed"] + m["bias"] + sum(m["mlp"]) + sum(m["attn_bias"])
    assert total + m["residual"] == pytest.approx(m["logit_diff"], abs=1e-4)
    assert abs(m["residual"]) < 1e-3 * max(1.0, abs(m["logit_diff"]))
    assert m["logit_diff"] > 2  # Paris is far ahead of Rome


def test_fast_patching_equals_naive_and_self_patching(smollm):
    kwargs = dict(target=" Paris", foil=" Rome", layers=[3, 20], normalize=False)
    fast = pi.patch(smollm, EIFFEL, COLOSSEUM, **kwargs)
    naive = pi.patch(smollm, EIFFEL, COLOSSEUM, method="naive", **kwargs)
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4)
    heads = dict(target=" Paris", foil=" Rome", site="heads", layers=[20], normalize=False)
    np.testing.assert_allclose(
        pi.patch(smollm, EIFFEL, COLOSSEUM, **heads).scores,
        pi.patch(smollm, EIFFEL, COLOSSEUM, method="naive", **heads).scores,
        atol=1e-4,
    )
    normalised = pi.patch(smollm, EIFFEL, COLOSSEUM, target=" Paris", foil=" Rome", site="resid_post", layers=[29])
    assert normalised.scores[0, -1] == pytest.approx(1.0, abs=1e-4)  # the clean final state gives the clean answer
    np.testing.assert_allclose(normalised.scores[0, :-1], 0.0, atol=1e-4)  # other final states do not reach the logits
    assert_intact(smollm)


def test_causal_tracing_of_the_eiffel_tower(smollm):
    layers = list(range(0, 30, 4)) + [23, 29]
    ex = pi.trace(smollm, EIFFEL, target=" Paris", subject="Eiffel Tower", samples=3, layers=sorted(layers))
    m = ex.meta
    assert m["clean_prob"] == pytest.approx(0.70, abs=0.03) and m["corrupted_prob"] < 0.1
    subject, last = m["subject_positions"], len(ex.labels["position"]) - 1
    rows = {int(label): i for i, label in enumerate(ex.labels["layer"])}
    early_subject = ex.scores[[rows[n] for n in (0, 4, 8, 12)]][:, subject].max()
    late_last = ex.scores[[rows[n] for n in (23, 24, 28)], last].max()
    assert early_subject > 0.4 and late_last > 0.5  # the two sites of ROME's Figure 1
    assert ex.scores[[rows[n] for n in (0, 4, 8)], last].max() < 0.1  # the last position alone does not help early
    assert m["best"]["position"] in subject or m["best"]["position"] == last


def test_pos_probe_beats_the_majority_baseline_and_control_is_at_chance(smollm, data_dir):
    ex = pi.probe(smollm, data_dir / "ud_english_ewt" / "en_ewt-ud-dev.conllu", layers=[0, 8, 15], cv=3, limit=150)
    accuracy, control, _ = ex.scores.T
    assert ex.meta["n_examples"] > 1500
    assert accuracy[1:].min() > ex.meta["majority_baseline"] + 0.3  # middle layers: POS is linearly readable
    assert control.max() < ex.meta["control_majority_baseline"] + 0.05  # random labels per word type: chance
    assert (ex.scores[:, 2] > 0.3).all()  # selectivity


def test_steering_with_zero_reproduces_generation(smollm):
    vector = pi.steering_vector(smollm, ["I love this, it is wonderful."], ["I hate this, it is terrible."], layer=12)
    prompt = "Describe your day in one sentence."
    ex = pi.steer(smollm, prompt, direction=vector, layer=12, coefficients=[0, 6], max_new_tokens=10)
    plain = smollm.generate(prompt, max_new_tokens=10)
    assert ex.meta["generations"][0]["tokens"] == plain.tokens
    assert ex.meta["generations"][1]["tokens"] != plain.tokens
    assert_intact(smollm)


def test_attribution_patching_agrees_with_exact_patching(smollm):
    ex = pi.attribution_patch(
        smollm, EIFFEL, COLOSSEUM, target=" Paris", foil=" Rome", site="attn.out", layers=[10, 20, 25]
    )
    assert ex.meta["agreement"]["pearson"] > 0.7
