"""Drift between stored windows: planted shifts found, identical windows quiet, hidden states."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.service.drift import hidden_state_vectors, run_drift
from tests.monitor.conftest import at

START = at("2026-11-01 00:00")


def _window(store: Store, make, version: str, n: int, rng, shift: float, day: int, prompts=None):
    rows = [
        make(
            prompt=(prompts[i % len(prompts)] if prompts else f"question {i}"),
            model_version=version,
            latency_ms=float(rng.normal(300 + 200 * shift, 50)),
            created_at=START + timedelta(days=day, minutes=i),
        )
        for i in range(n)
    ]
    store.repo.insert_records(rows)
    store.repo.add_embeddings([(r.id, "prompt", "enc", rng.normal(size=16) + shift) for r in rows])
    store.repo.add_metrics([(r.id, "perplexity", float(rng.lognormal(1 + shift, 0.3))) for r in rows])
    return rows


def test_planted_shift_is_detected_and_saved(store: Store, make) -> None:
    rng = np.random.default_rng(0)
    _window(store, make, "v1", 60, rng, 0.0, 0)
    _window(store, make, "v2", 60, rng, 1.0, 10)
    report = run_drift(store, "version:v1", "2026-11-11..2026-11-12", n_permutations=200)
    found = {(r.feature, r.detector): r for r in report.results}
    assert found[("prompt embeddings", "mmd")].drifted and found[("prompt embeddings", "mmd")].p_value < 0.01
    assert found[("prompt embeddings", "classifier")].drifted
    assert found[("latency_ms", "ks")].drifted and found[("perplexity", "psi")].drifted
    assert "response embeddings" in report.params["skipped"] and "toxicity" in report.params["skipped"]
    assert report.params["current"]["records"] == 60 and report.drifted
    saved = store.reports.save_drift_report("version:v1", "2026-11-11..2026-11-12", report.to_dict())
    assert store.reports.get_drift_report(saved.id).report["results"][0]["detector"] == "mmd"


def test_same_distribution_is_quiet(store: Store, make) -> None:
    rng = np.random.default_rng(1)
    _window(store, make, "v1", 60, rng, 0.0, 0)
    _window(store, make, "v2", 60, rng, 0.0, 10)
    report = run_drift(store, "version:v1", "version:v2", metrics=["latency_ms"], n_permutations=200)
    assert not report.drifted, report.verdict
    assert {r.feature for r in report.results} == {"prompt embeddings", "latency_ms"}


def test_nothing_to_compare_says_why(store: Store, make) -> None:
    rng = np.random.default_rng(2)
    _window(store, make, "v1", 5, rng, 0.0, 0)
    with pytest.raises(InvalidInputError, match="need 10 in each"):
        run_drift(store, "version:v1", "version:v2")


def test_hidden_state_drift_on_the_tiny_model(store: Store, make, tiny_lm) -> None:
    rng = np.random.default_rng(3)
    france = ["What is the capital of France?", "The Eiffel Tower is located in the city of Paris."]
    movies = ["The movie was awful and boring.", "The movie was excellent and fun!"]
    _window(store, make, "v1", 12, rng, 0.0, 0, prompts=france)
    _window(store, make, "v2", 12, rng, 0.0, 10, prompts=movies)
    report = run_drift(
        store, "version:v1", "version:v2", metrics=[], embeddings=[], layer=1, lm=tiny_lm, n_permutations=200
    )
    (result,) = report.results
    assert result.detector == "hidden_state" and result.drifted and report.params["layer"] == 1
    vectors = hidden_state_vectors(tiny_lm, france, 1)
    _, cache = tiny_lm.run_with_cache(france[0], ["blocks.1.resid_post"])
    np.testing.assert_allclose(vectors[0], cache["blocks.1.resid_post"][0].mean(0).numpy(), rtol=1e-5)
    with pytest.raises(InvalidInputError, match="layers 0 to 2"):
        hidden_state_vectors(tiny_lm, france, 3)


def test_default_windows_do_not_compare_records_with_themselves(store: Store, make) -> None:
    """``last:14d`` vs ``last:1d``: the reference ends where the current window starts."""
    from datetime import UTC, datetime

    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    rows = [
        make(prompt=f"q {i}", latency_ms=float(rng.normal(300, 20)), created_at=now - timedelta(days=3 + i / 10))
        for i in range(40)
    ] + [
        make(prompt=f"r {i}", latency_ms=float(rng.normal(900, 20)), created_at=now - timedelta(hours=2 + i / 10))
        for i in range(20)
    ]
    store.repo.insert_records(rows)
    report = run_drift(store, "last:14d", "last:1d", metrics=["latency_ms"], embeddings=[])
    assert report.params["reference"]["records"] == 40 and report.params["current"]["records"] == 20
    assert report.drifted, report.verdict
    with pytest.raises(InvalidInputError, match="does not start before the current window"):
        run_drift(store, "last:1d", "last:14d", metrics=["latency_ms"], embeddings=[])
