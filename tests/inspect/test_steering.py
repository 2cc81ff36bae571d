"""Steering: coefficient 0 reproduces the unsteered generation exactly; vectors and probes as directions."""

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import LinearProbe, steer, steering_vector
from tests.inspect.conftest import assert_intact

POSITIVE = ["The movie was excellent and fun.", "What a great film."]
NEGATIVE = ["The movie was awful and boring.", "What a bad film."]


def test_coefficient_zero_reproduces_the_unsteered_generation(tiny_lm):
    vector = steering_vector(tiny_lm, POSITIVE, NEGATIVE, layer=1)
    ex = steer(tiny_lm, "Hello there", direction=vector, layer=1, coefficients=[0.0, 50.0], max_new_tokens=8)
    plain = tiny_lm.generate("Hello there", max_new_tokens=8)
    base, pushed = ex.meta["generations"]
    assert base["tokens"] == plain.tokens  # identity decided on tokens
    # log-probs of a batch of coefficients vs one plain run: fp32 rounding of another batch shape
    np.testing.assert_allclose(base["logprobs"], plain.logprobs, rtol=1e-5)
    assert pushed["tokens"] != plain.tokens
    assert ex.axes == ("coefficient", "step") and ex.labels["coefficient"] == ["+0", "+50"]
    np.testing.assert_allclose(ex.scores[0, : len(plain.logprobs)], plain.logprobs, rtol=1e-5)
    assert_intact(tiny_lm)


def test_steering_vector_is_the_difference_of_means(tiny_lm):
    vector = steering_vector(tiny_lm, POSITIVE, NEGATIVE, layer=2, pooling="last")
    means = []
    for texts in (POSITIVE, NEGATIVE):
        rows = []
        for text in texts:
            _, cache = tiny_lm.run_with_cache(text, ["blocks.2.resid_post"], chat=False)
            rows.append(cache["blocks.2.resid_post"][0, -1])
        means.append(torch.stack(rows).mean(0))
    np.testing.assert_allclose(vector, (means[0] - means[1]).numpy(), atol=1e-5)


def test_probe_direction_and_normalisation(tiny_lm):
    rng = np.random.default_rng(0)
    probe = LinearProbe().fit(rng.normal(size=(40, tiny_lm.d_model)), ["a", "b"] * 20)
    ex = steer(tiny_lm, "Hello there", direction=probe, layer=0, coefficients=[0, 3], max_new_tokens=4)
    assert ex.meta["direction_norm"] == pytest.approx(1.0, abs=1e-5)
    unit = steer(
        tiny_lm,
        "Hello",
        direction=np.ones(tiny_lm.d_model),
        layer=0,
        coefficients=[1],
        normalize=True,
        max_new_tokens=2,
    )
    assert unit.meta["direction_norm"] == pytest.approx(1.0, abs=1e-5)


def test_bad_input(tiny_lm):
    with pytest.raises(InvalidInputError, match=r"shape \(3,\).*d_model=32"):
        steer(tiny_lm, "Hello", direction=np.ones(3), layer=0)
    with pytest.raises(InvalidInputError, match="Layer 9 does not exist"):
        steer(tiny_lm, "Hello", direction=np.ones(32), layer=9)
    with pytest.raises(InvalidInputError, match="all zeros"):
        steer(tiny_lm, "Hello", direction=np.zeros(32), layer=0, normalize=True)
    with pytest.raises(InvalidInputError, match="at least one positive and one negative"):
        steering_vector(tiny_lm, POSITIVE, [], layer=0)
    with pytest.raises(InvalidInputError, match="No coefficients"):
        steer(tiny_lm, "Hello", direction=np.ones(32), layer=0, coefficients=[])
    assert_intact(tiny_lm)
