"""The store's half of model-derived monitoring: plain values in, rows out, no model anywhere.

Enrichment rows are written with the marker last and survive a record purged meanwhile; drift
tests hidden-state arrays handed down by the service like any other feature; the service's
drift verb saves what it ran.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.monitor.drift_run import run_drift
from pellucid.monitor.enrich import MARKER, VERSION, all_waiting, metric_rows, pending, write_enrichment
from pellucid.service.drift import drift_report
from tests.monitor.conftest import at

START = at("2026-11-01 00:00")


def test_metric_rows_add_the_flag_count_and_end_with_the_marker(store: Store, make) -> None:
    record = make(flags={"empty_prompt": "x", "long_response": "y"})
    store.repo.insert_records([record])
    (stored,) = store.repo.list_records(limit=1).items
    rows = metric_rows(stored, {"perplexity": 3.5, "toxicity": None})
    assert rows == [
        (stored.id, "perplexity", 3.5),
        (stored.id, "toxicity", None),
        (stored.id, "flag_count", 2.0),
        (stored.id, MARKER, VERSION),
    ]


def test_writes_skip_a_record_purged_meanwhile(store: Store, make) -> None:
    kept, gone = make(prompt="stay"), make(prompt="leave", user_id="u-gone")
    store.repo.insert_records([kept, gone])
    waiting = all_waiting(store)
    assert [r.prompt_text for r in waiting] == ["stay", "leave"] and pending(store) == 2
    vectors = [(r.id, "prompt", "enc", np.full(4, float(i))) for i, r in enumerate(waiting)]
    values = [row for r in waiting for row in metric_rows(r, {"perplexity": 2.0})]
    assert store.repo.purge(user_id="u-gone") == 1
    write_enrichment(store, vectors, values)
    assert pending(store) == 0
    metrics = store.repo.get_record(waiting[0].id).metrics
    assert metrics["perplexity"] == 2.0 and metrics[MARKER] == VERSION
    ids, stored = store.repo.get_embeddings("prompt")
    assert ids == [waiting[0].id] and stored.shape == (1, 4)


def test_all_waiting_reads_in_pages_up_to_the_limit(store: Store, make) -> None:
    store.repo.insert_records([make(prompt=f"q{i}", created_at=START + timedelta(minutes=i)) for i in range(7)])
    assert [r.prompt_text for r in all_waiting(store, 5, page=2)] == [f"q{i}" for i in range(5)]
    assert len(all_waiting(store, page=3)) == 7
    with pytest.raises(InvalidInputError, match="at least 1"):
        all_waiting(store, 0)


def _windows(store: Store, make, n: int = 12) -> None:
    rows = [make(model_version=v, created_at=START + timedelta(days=d, minutes=i)) for v, d in (("v1", 0), ("v2", 5))
            for i in range(n)]  # fmt: skip
    store.repo.insert_records(rows)


def test_drift_tests_hidden_state_arrays_handed_down(store: Store, make) -> None:
    _windows(store, make)
    rng = np.random.default_rng(0)
    shifted = {"layer 2": (rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 1.5)}
    report = run_drift(
        store, "version:v1", "version:v2", metrics=[], embeddings=[], hidden_states=shifted, layer=2, model="m",
        n_permutations=200,
    )  # fmt: skip
    (result,) = report.results
    assert (result.feature, result.detector) == ("layer 2 hidden states", "hidden_state") and result.drifted
    assert report.params["layer"] == 2 and report.params["model"] == "m"
    assert report.params["current"]["records"] == 12
    same = {"layer 2": (rng.normal(size=(40, 8)), rng.normal(size=(40, 8)))}
    quiet = run_drift(store, "version:v1", "version:v2", metrics=[], embeddings=[], hidden_states=same)
    assert not quiet.drifted
    with pytest.raises(InvalidInputError, match="layer 2 hidden states: 3 vs 4 prompts"):
        run_drift(store, "version:v1", "version:v2", metrics=[], embeddings=[],
                  skipped_states={"layer 2 hidden states": "3 vs 4 prompts; need 10"})  # fmt: skip


def test_the_drift_verb_saves_what_it_ran(store: Store, make) -> None:
    _windows(store, make)
    store.repo.add_metrics([(r.id, "perplexity", float(i % 5)) for i, r in enumerate(store.repo.list_records().items)])
    report, saved = drift_report(store, "version:v1", "version:v2", metrics=["perplexity"], embeddings=[], name="p")
    assert saved is not None and saved.name == "p"
    assert store.reports.get_drift_report(saved.id).report == report.to_dict()
    report, saved = drift_report(store, "version:v1", "version:v2", save=False, metrics=["perplexity"], embeddings=[])
    assert saved is None and len(store.reports.list_drift_reports()) == 1
    with pytest.raises(InvalidInputError, match="needs the serving model"):
        drift_report(store, "version:v1", "version:v2", layer=1)
