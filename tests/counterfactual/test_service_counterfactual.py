"""Counterfactual verbs of the service: the sentence encoder comes from the model pool."""

from __future__ import annotations

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.service import ModelPool
from pellucid.service.counterfactual import compare


def test_similarity_uses_the_pools_encoder(tiny_lm, minilm, settings) -> None:
    pool = ModelPool(settings)
    pool.add_encoder(minilm)
    assert pool.encoder() is minilm and pool.encoder(minilm.name) is minilm
    result = compare(tiny_lm, "The movie was awful.", replace=["awful=>great"], pool=pool, similarity=True,
                     max_new_tokens=4)  # fmt: skip
    (variant,) = result.variants
    a, b = minilm.embed([result.original.answer, variant.answer])
    expected = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert variant.similarity == pytest.approx(expected, abs=1e-5)
    with pytest.raises(InvalidInputError, match="similarity needs the sentence encoder"):
        compare(tiny_lm, "The movie was awful.", replace=["awful=>great"], similarity=True, max_new_tokens=2)
