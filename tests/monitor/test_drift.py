"""Drift detectors: calibrated false alarms, real detections, exact identities, clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from scipy.stats import binom, ks_2samp, mannwhitneyu
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.monitor.drift import (
    DETECTORS,
    ClassifierDrift,
    DriftInputError,
    DriftResult,
    HiddenStateDrift,
    KSDrift,
    MMDDrift,
    NotFittedError,
    PSIDrift,
    drift_report,
    make_detector,
    mmd2_unbiased,
    population_stability_index,
    psi_level,
)
from pellucid.monitor.drift_classifier import auc_test
from pellucid.monitor.drift_mmd import median_heuristic

ALPHA = 0.05
Pair = tuple[np.ndarray, np.ndarray]


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """Hundreds of tiny fits: thread start-up would dominate, and the machine may be shared."""
    with threadpool_limits(limits=1):
        yield


def max_false_alarms(reps: int, alpha: float = ALPHA) -> int:
    """Largest count of false alarms a calibrated test produces with probability ≥ 99.9 %."""
    return int(binom.ppf(0.999, reps, alpha))


def false_alarm_count(make: Callable[[int], object], sample: Callable[[np.random.Generator], Pair], reps: int) -> int:
    alarms = 0
    for seed in range(reps):
        reference, current = sample(np.random.default_rng(10_000 + seed))
        result = make(seed).fit(reference).test(current)  # type: ignore[attr-defined]
        assert 0.0 < result.p_value <= 1.0
        alarms += int(result.drifted)
    return alarms


def gaussian(n: int, d: int) -> Callable[[np.random.Generator], Pair]:
    return lambda rng: (rng.standard_normal((n, d)), rng.standard_normal((n, d)))


def shifted(n: int, d: int, dims: int, shift: float, seed: int = 0) -> Pair:
    rng = np.random.default_rng(seed)
    reference, current = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    current[:, :dims] += shift
    return reference, current


def token_states(rng: np.random.Generator, n: int = 30, tokens: int = 4, d: int = 12) -> np.ndarray:
    """Hidden states with one 'massive activation' dimension, as real transformers have."""
    scale = np.ones(d)
    scale[0] = 200.0
    return rng.standard_normal((n, tokens, d)) * scale


# -- false alarms stay near alpha ---------------------------------------------------------

FALSE_ALARM_CASES = {
    "mmd": (lambda s: MMDDrift(n_permutations=99, random_state=s), gaussian(30, 5), 100),
    "hidden_state": (
        lambda s: HiddenStateDrift(n_permutations=99, random_state=s),
        lambda rng: (token_states(rng), token_states(rng)),
        100,
    ),
    "classifier": (lambda s: ClassifierDrift(random_state=s), gaussian(40, 5), 100),
    "psi": (lambda s: PSIDrift(), lambda rng: (rng.gamma(2.0, 1.0, 200), rng.gamma(2.0, 1.0, 200)), 300),
    "ks": (lambda s: KSDrift(), lambda rng: (rng.gamma(2.0, 1.0, 200), rng.gamma(2.0, 1.0, 200)), 300),
}


@pytest.mark.parametrize("name", sorted(FALSE_ALARM_CASES))
def test_false_alarm_rate_near_alpha_without_drift(name: str) -> None:
    make, sample, reps = FALSE_ALARM_CASES[name]
    alarms = false_alarm_count(make, sample, reps)
    assert alarms <= max_false_alarms(reps), f"{name}: {alarms}/{reps} false alarms at alpha={ALPHA}"


def test_psi_noise_check_is_calibrated_even_on_small_windows() -> None:
    """Small windows inflate PSI; the chi-square check keeps false alarms near alpha."""
    psi_alarms, reps = 0, 300
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        result = PSIDrift().fit(rng.gamma(2.0, 1.0, 100)).test(rng.gamma(2.0, 1.0, 60))
        psi_alarms += int(result.p_value < ALPHA)
    assert psi_alarms <= max_false_alarms(reps)


def test_permutation_p_values_are_uniform_enough() -> None:
    """An exact permutation test: P(p ≤ 0.2) ≈ 0.2 too, not only at alpha."""
    reps, hits = 100, 0
    for seed in range(reps):
        reference, current = gaussian(20, 3)(np.random.default_rng(seed))
        hits += int(MMDDrift(n_permutations=99, random_state=seed).fit(reference).test(current).p_value <= 0.2)
    assert binom.ppf(0.001, reps, 0.2) <= hits <= binom.ppf(0.999, reps, 0.2)


# -- planted shifts are found -------------------------------------------------------------


def test_mmd_detects_mean_shift_in_a_few_embedding_dims() -> None:
    reference, current = shifted(200, 32, dims=3, shift=0.6)
    result = MMDDrift(n_permutations=199).fit(reference).test(current)
    assert result.drifted and result.p_value == pytest.approx(1 / 200)
    assert result.statistic > result.details["null_q95"] > 0


def test_classifier_detects_mean_shift_in_a_few_embedding_dims() -> None:
    reference, current = shifted(300, 32, dims=3, shift=0.6)
    result = ClassifierDrift().fit(reference).test(current)
    assert result.drifted and result.p_value < 1e-4
    assert result.statistic > 0.65


def test_hidden_state_drift_sees_past_a_massive_activation_dimension() -> None:
    rng = np.random.default_rng(3)
    reference, current = token_states(rng, n=150), token_states(rng, n=150)
    current[:, :, 1:4] += 0.8  # a shift that the 200× dimension would hide without standardising
    result = HiddenStateDrift(layer=7, n_permutations=199).fit(reference).test(current)
    assert result.drifted and result.feature == "layer 7 hidden states"
    assert result.details["layer"] == 7 and result.details["standardized"] is True
    unscaled = HiddenStateDrift(standardize=False, n_permutations=199).fit(reference).test(current)
    assert unscaled.p_value > result.p_value


def test_psi_and_ks_detect_a_scale_change() -> None:
    rng = np.random.default_rng(5)
    reference, current = rng.gamma(2.0, 1.0, 2000), rng.gamma(2.0, 1.0, 2000) * 1.5
    psi = PSIDrift(name="latency_ms").fit(reference).test(current)
    ks = KSDrift(name="latency_ms").fit(reference).test(current)
    assert psi.drifted and psi.statistic >= 0.1 and psi.details["level"] in {"moderate", "significant"}
    assert ks.drifted and ks.p_value < 1e-6
    assert ks.details["current_values_at_gap"] == "larger"


# -- exact identities ---------------------------------------------------------------------


def naive_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.exp(-np.sum((a - b) ** 2) / (2 * sigma**2)))

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd2_matches_the_textbook_unbiased_estimator() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 4)), rng.standard_normal((9, 4)) + 0.3
    assert mmd2_unbiased(x, y, 1.7) == pytest.approx(naive_mmd2(x, y, 1.7), abs=1e-12)
    result = MMDDrift(bandwidth=1.7, n_permutations=10).fit(x).test(y)
    assert result.statistic == pytest.approx(naive_mmd2(x, y, 1.7), abs=1e-12)


def test_median_heuristic_is_the_median_pairwise_distance() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0]])  # distances 1, 3, 7, 2, 6, 4 -> median 3.5
    assert median_heuristic(points, np.random.default_rng(0)) == pytest.approx(3.5)


def test_mmd_is_reproducible_with_a_seed_and_p_is_never_zero() -> None:
    reference, current = shifted(60, 4, dims=4, shift=3.0)
    first = MMDDrift(n_permutations=49, random_state=7).fit(reference).test(current)
    again = MMDDrift(n_permutations=49, random_state=7).fit(reference).test(current)
    assert first.to_dict() == again.to_dict()
    assert first.p_value == pytest.approx(1 / 50)


def test_psi_of_identical_samples_is_zero_and_of_same_distribution_is_small() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=5000)
    assert PSIDrift().fit(values).test(values).statistic == 0.0
    same = PSIDrift().fit(values).test(rng.lognormal(size=5000))
    assert same.statistic < 0.01 and not same.drifted and same.details["level"] == "none"


def test_psi_formula_and_levels() -> None:
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert [psi_level(v) for v in (0.05, 0.1, 0.2, 0.25, 1.0)] == [
        "none",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]


def test_psi_bins_are_reference_deciles() -> None:
    reference = np.arange(1000.0)
    detector = PSIDrift(n_bins=10).fit(reference)
    assert detector.cuts_.size == 9
    assert np.allclose(detector.reference_shares_, 0.1)


def test_psi_bins_few_distinct_values_by_value() -> None:
    """A constant or low-cardinality reference: a value it never took gets its own bin."""
    detector = PSIDrift().fit([5.0] * 50)
    assert detector.by_value_ and detector.test([5.0] * 50).statistic == 0.0
    moved = detector.test([6.0] * 50)
    assert moved.drifted and moved.details["binning"] == "by value" and moved.details["level"] == "significant"
    rng = np.random.default_rng(6)
    ratings = PSIDrift(name="rating").fit(rng.integers(1, 6, 400)).test(rng.integers(1, 6, 400))
    assert not ratings.drifted and ratings.details["n_bins"] == 11


def test_ks_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(0.2, 1.0, size=250)
    result = KSDrift().fit(a).test(b)
    direct = ks_2samp(a, b)
    assert result.statistic == pytest.approx(direct.statistic)
    assert result.p_value == pytest.approx(direct.pvalue)


def test_auc_is_the_mann_whitney_u_over_its_maximum() -> None:
    rng = np.random.default_rng(4)
    scores, labels = rng.normal(size=80), np.r_[np.zeros(40, int), np.ones(40, int)]
    auc, p = auc_test(scores, labels)
    assert auc == pytest.approx(roc_auc_score(labels, scores))
    assert p == pytest.approx(mannwhitneyu(scores[40:], scores[:40], alternative="greater").pvalue)


# -- results, verdicts, the report --------------------------------------------------------


def test_verdict_reads_like_a_sentence_with_the_figures() -> None:
    reference, current = shifted(1000, 8, dims=2, shift=0.5)
    result = MMDDrift(name="prompts", n_permutations=99).fit(reference).test(current)
    assert re.fullmatch(
        r"The prompts drifted: MMD²=[0-9.e+-]+, p=0\.01 < 0\.05 over 1,000 vs 1,000 embeddings\.", result.verdict
    ), result.verdict
    calm = MMDDrift(name="prompts", n_permutations=99).fit(reference).test(reference[::-1])
    assert calm.verdict.startswith("No drift detected in the prompts:") and "≥ 0.05" in calm.verdict


def test_subsampling_is_reported_in_details_and_verdict() -> None:
    reference, current = shifted(1500, 8, dims=2, shift=0.0)
    result = MMDDrift(max_samples=400, n_permutations=20).fit(reference).test(current[:900])
    assert result.details["subsampled"] is True
    assert (result.details["n_reference_used"], result.details["n_current_used"]) == (400, 400)
    assert (result.details["n_reference"], result.details["n_current"]) == (1500, 900)
    assert "random subsamples of 1,500 vs 900" in result.verdict


def test_result_is_frozen_and_json_ready() -> None:
    reference, current = shifted(50, 3, dims=1, shift=1.0)
    result = MMDDrift(n_permutations=20).fit(reference).test(current)
    with pytest.raises(AttributeError):
        result.drifted = False  # type: ignore[misc]
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) >= {"detector", "statistic", "p_value", "threshold", "drifted", "verdict", "details"}
    assert data["detector"] == "mmd" and data["threshold"] == 0.05


def test_drift_report_combines_embeddings_and_scalars() -> None:
    rng = np.random.default_rng(8)
    reference, current = shifted(300, 16, dims=3, shift=0.7, seed=8)
    scalars = {
        "latency_ms": (rng.gamma(2.0, 100.0, 500), rng.gamma(2.0, 100.0, 500) * 1.6),
        "prompt_tokens": (rng.poisson(40, 500), rng.poisson(40, 500)),
    }
    report = drift_report(reference, current, scalars=scalars, n_permutations=99, name="prompt embeddings")
    found = {(r.feature, r.detector): r.drifted for r in report.results}
    assert found == {
        ("prompt embeddings", "mmd"): True,
        ("prompt embeddings", "classifier"): True,
        ("latency_ms", "psi"): True,
        ("latency_ms", "ks"): True,
        ("prompt_tokens", "psi"): False,
        ("prompt_tokens", "ks"): False,
    }
    assert report.drifted and report.verdict.startswith("Drift detected by 4 of 6 checks")
    assert report.result("latency_ms", "ks").detector == "ks"
    data = json.loads(json.dumps(report.to_dict()))
    assert len(data["results"]) == 6 and data["seconds"] > 0


def test_drift_report_hidden_states_and_detector_choice() -> None:
    rng = np.random.default_rng(9)
    states = {"layer 3": (token_states(rng, n=40), token_states(rng, n=40))}
    report = drift_report(embeddings=(), hidden_states=states, n_permutations=49)
    assert [(r.detector, r.feature) for r in report.results] == [("hidden_state", "layer 3 hidden states")]
    with pytest.raises(UnknownNameError, match="Available: classifier, mmd"):
        drift_report(np.zeros((4, 2)), np.ones((4, 2)), embeddings=("mmd", "energy"))


def test_registry_builds_every_detector() -> None:
    assert set(DETECTORS) == {"mmd", "classifier", "hidden_state", "psi", "ks"}
    assert isinstance(make_detector("psi", n_bins=5), PSIDrift)
    with pytest.raises(UnknownNameError, match="Unknown drift detector: 'wasserstein'. Available: classifier"):
        make_detector("wasserstein")
    with pytest.raises(DriftInputError, match="Bad parameters"):
        make_detector("ks", bins=3)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mmd", "classifier", "hidden_state"])
def test_vector_detectors_reject_bad_input(name: str) -> None:
    good = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(DriftInputError, match="reference is empty"):
        make_detector(name).fit(np.zeros((0, 4)))
    with pytest.raises(NotFittedError, match=r"call .*\.fit\(reference\) before test"):
        make_detector(name).test(good)
    fitted = make_detector(name).fit(good)
    with pytest.raises(DriftInputError, match="current has 5 features but the reference has 4"):
        fitted.test(np.zeros((20, 5)))
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DriftInputError, match=r"current contains 1 NaN .* index \(3, 1\).*drop or impute"):
        fitted.test(bad)


@pytest.mark.parametrize("name", ["psi", "ks"])
def test_scalar_detectors_reject_bad_input(name: str) -> None:
    with pytest.raises(DriftInputError, match="reference is empty"):
        make_detector(name).fit([])
    fitted = make_detector(name).fit([1.0, 2.0, 3.0])
    with pytest.raises(DriftInputError, match=r"current contains 1 NaN .*index 1"):
        fitted.test([1.0, float("nan"), 2.0])
    with pytest.raises(DriftInputError, match="1-D array"):
        fitted.test(np.zeros((3, 2)))


def test_errors_are_invalid_input_errors_and_parameters_are_checked_at_fit() -> None:
    assert issubclass(DriftInputError, InvalidInputError) and issubclass(NotFittedError, InvalidInputError)
    detector = MMDDrift(alpha=1.5)  # the constructor only stores
    with pytest.raises(DriftInputError, match="alpha must be between 0 and 1"):
        detector.fit(np.zeros((5, 2)))
    with pytest.raises(DriftInputError, match="Give both reference and current"):
        drift_report(np.zeros((5, 2)))
    with pytest.raises(DriftInputError, match="Nothing to compare"):
        drift_report()
    with pytest.raises(DriftInputError, match=r"must be a \(reference, current\) pair"):
        drift_report(scalars={"latency": [1.0, 2.0, 3.0]})  # type: ignore[dict-item]


def test_drift_result_fields() -> None:
    result = DriftResult("ks", 0.1, None, 0.05, False, "No drift.", {})
    assert result.to_dict()["p_value"] is None
