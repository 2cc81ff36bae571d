"""Feature-frequency drift: an injected concept is found, two samples of the same traffic stay quiet."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.monitor import Store
from pellucid.monitor.drift_base import DriftInputError
from pellucid.monitor.drift_features import benjamini_hochberg, feature_frequency_drift
from pellucid.monitor.windows import parse_window
from pellucid.service.drift import feature_fire_matrix, run_drift
from tests.features.test_attribution import _gentle_dictionary
from tests.monitor.test_drift_run import START, _window

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


def test_firing_matrix_and_prompt_features_on_the_tiny_model(store: Store, make, tiny_lm, tmp_path: Path) -> None:
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
    assert result.detector == "feature_frequency" and result.feature == "prompt features of sae at blocks.1.resid_post"
    assert result.details["n_reference"] == result.details["n_current"] == 12
    with pytest.raises(InvalidInputError, match="features enrich DIR"):  # nothing stored, no model
        run_drift(store, "version:v1", "version:v2", features=tmp_path / "sae")


def test_stored_response_features_feed_drift_without_a_model(store: Store, make, tiny_lm, tmp_path: Path) -> None:
    from pellucid.service.feature_enrichment import FeatureEnricher, response_features

    dictionary = _gentle_dictionary(tiny_lm, seed=5)
    saelens_format.save(dictionary, tmp_path / "sae")
    rows = [
        make(prompt=f"q{i}", response=text, model=tiny_lm.name, model_version=version,
             created_at=START + timedelta(days=day, minutes=i))
        for i in range(12)
        for version, day, text in (("v1", 0, "the cat sat on the mat"), ("v2", 10, "7 + 5 = 12 and 999 / 3"))
    ]  # fmt: skip
    rows.append(make(prompt="failed", response=None, error="boom", created_at=START))
    store.repo.insert_records(rows)
    enricher = FeatureEnricher(store, tmp_path / "sae", tiny_lm, top=8)
    stats = enricher.run_once()
    assert stats.records == 24 and stats.skipped == 0  # the failed call has no response and is not waiting
    assert enricher.run_once().records == 0  # every record is marked done, none is recomputed
    expected = response_features(tiny_lm, dictionary, "q0", "the cat sat on the mat", chat=None, top=8)
    ids, sets = store.repo.feature_sets("sae", parse_window("version:v1"))
    assert len(ids) == 12 and sorted(sets[rows[0].id]) == sorted(latent for latent, _ in expected)
    top_latent, top_value = expected[0]
    strongest = store.repo.records_with_feature("sae", top_latent, parse_window("version:v1"), limit=12)
    assert [v for _, v in strongest] == sorted((v for _, v in strongest), reverse=True)
    assert dict(strongest)[rows[0].id] == pytest.approx(top_value, rel=1e-5)  # same pass, recomputed
    report = run_drift(store, "version:v1", "version:v2", metrics=[], embeddings=[], features=tmp_path / "sae")
    (result,) = report.results
    assert result.feature == "response features of sae (stored)"
    assert result.details["n_reference"] == result.details["n_current"] == 12

    def fires(version: str) -> np.ndarray:  # the same test on matrices built straight from the model
        out = np.zeros((12, dictionary.d_sae), dtype=bool)
        for i, r in enumerate(x for x in rows if x.model_version == version):
            out[i, [j for j, _ in response_features(tiny_lm, dictionary, r.prompt, r.response, top=8)]] = True
        return out

    direct = feature_frequency_drift(fires("v1"), fires("v2"), feature=result.feature)
    assert result.details["latents_tested"] == direct.details["latents_tested"]
    assert [m["latent"] for m in result.details["moved"]] == [m["latent"] for m in direct.details["moved"]]
    store.repo.purge(before=START + timedelta(days=30))
    assert store.repo.feature_sets("sae")[0] == []
