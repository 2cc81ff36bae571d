"""Feature-frequency drift: an injected concept is found, two samples of the same traffic stay quiet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.monitor import Store
from pellucid.monitor.drift_base import DriftInputError
from pellucid.monitor.drift_features import benjamini_hochberg, feature_frequency_drift
from pellucid.service.drift import feature_fire_matrix, run_drift
from tests.features.test_attribution import _gentle_dictionary
from tests.monitor.test_drift_run import _window

LATENTS = 300


def _traffic(rng: np.random.Generator, n: int, concept: int | None = None, rate: float = 0.0) -> np.ndarray:
    """Records where each latent fires with its own base rate; ``concept`` fires at ``rate`` instead."""
    base = np.linspace(0.01, 0.3, LATENTS)
    if concept is not None:
        base = base.copy()
        base[concept] = rate
    return rng.random((n, LATENTS)) < base


def test_benjamini_hochberg_matches_its_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> p·m/rank = 0.04, 0.06, 0.0533.., 0.2 -> running minimum from the top
    expected = np.array([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12)


def test_an_injected_concept_is_found_first() -> None:
    rng = np.random.default_rng(0)
    reference = _traffic(rng, 200, concept=42, rate=0.0)
    current = _traffic(rng, 200, concept=42, rate=0.35)
    result = feature_frequency_drift(reference, current, feature="features of sae")
    assert result.drifted and result.detector == "feature_frequency"
    top = result.details["moved"][0]
    assert top["latent"] == 42 and top["change"] == "appeared" and top["reference_rate"] == 0.0
    assert top["current_rate"] == pytest.approx(current[:, 42].mean(), rel=1e-12)
    assert top["q_value"] < 1e-6 and "latent 42 appeared" in result.verdict


def test_two_samples_of_the_same_traffic_stay_quiet() -> None:
    quiet = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        reference, current = _traffic(rng, 150), _traffic(rng, 150)
        result = feature_frequency_drift(reference, current)
        quiet += not result.drifted
        assert result.details["latents_tested"] == int((reference | current).any(0).sum())
    assert quiet >= 8  # the false discovery rate is controlled at 5 % over all 300 latents


def test_bad_matrices_are_refused() -> None:
    with pytest.raises(DriftInputError, match="same latents"):
        feature_frequency_drift(np.zeros((5, 3), bool), np.zeros((5, 4), bool))
    with pytest.raises(DriftInputError, match="alpha=2"):
        feature_frequency_drift(np.zeros((5, 3), bool), np.zeros((5, 3), bool), alpha=2)


def test_firing_matrix_and_stored_windows_on_the_tiny_model(store: Store, make, tiny_lm, tmp_path: Path) -> None:
    dictionary = _gentle_dictionary(tiny_lm, seed=5)
    prompts = ["the cat sat on the mat", "a dog barked at night"]
    fires = feature_fire_matrix(tiny_lm, dictionary, prompts)
    _, cache = tiny_lm.run_with_cache(prompts[1], [dictionary.config.site])
    expected = (dictionary.encode(cache[dictionary.config.site][0].float()) > 0).any(0).numpy()
    assert fires.shape == (2, dictionary.d_sae) and (fires[1] == expected).all()
    saelens_format.save(dictionary, tmp_path / "sae")
    rng = np.random.default_rng(3)
    _window(store, make, "v1", 12, rng, 0.0, 0, prompts=["the cat sat on the mat", "the cat ate"])
    _window(store, make, "v2", 12, rng, 0.0, 10, prompts=["7 + 5 = 12", "999 / 3 = 333"])
    report = run_drift(
        store, "version:v1", "version:v2", metrics=[], embeddings=[], features=tmp_path / "sae", lm=tiny_lm
    )
    (result,) = report.results
    assert result.detector == "feature_frequency" and result.feature == "features of sae at blocks.1.resid_post"
    assert result.details["n_reference"] == result.details["n_current"] == 12
    with pytest.raises(InvalidInputError, match="pass lm="):
        run_drift(store, "version:v1", "version:v2", features=tmp_path / "sae")
