"""Drift between two windows of logged traffic, read from the store.

:func:`run_drift` is what ``pellucid monitor drift`` and ``POST /api/drift/reports`` call. It
selects two windows by spec (:mod:`.windows`: ``last:7d``, ``version:v2``, a date range...),
the reference cut so that it holds none of the current window's records, and runs:

- **embedding drift** on the stored MiniLM vectors of prompts and responses (written by the
  enrichment worker): MMD with a permutation test and a domain classifier's AUC;
- **scalar drift** (PSI and KS) on per-record numbers: length, latency, tokens, and the
  enrichment metrics perplexity, entropy and toxicity when present;
- optionally **hidden-state drift**: one vector per logged prompt from the serving model,
  computed above this package (:mod:`pellucid.service.drift` runs the model) and passed in as
  plain arrays; :func:`window_prompts` gives the prompts to compute them for.

Each check needs at least :data:`MIN_RECORDS` values in both windows; checks without enough
data are listed in ``report.params["skipped"]`` with the reason instead of failing the run.
Nothing here runs a model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor.drift import DriftReport, DriftResult, drift_report
from pellucid.monitor.drift_features import feature_frequency_drift
from pellucid.monitor.records import RecordFilter
from pellucid.monitor.windows import describe_window, drift_windows

if TYPE_CHECKING:
    from pellucid.monitor.store import Store

#: Scalars tested by default (those without values in both windows are skipped).
DEFAULT_SCALARS = (
    "prompt_chars",
    "response_chars",
    "latency_ms",
    "completion_tokens",
    "perplexity",
    "mean_entropy",
    "toxicity",
)
EMBEDDING_FIELDS = ("prompt", "response")
MIN_RECORDS = 10

#: Reference and current arrays of one hidden-state feature: ``[n_ref, dim]`` and ``[n_cur, dim]``.
StatePair = tuple[np.ndarray, np.ndarray]


def check_embedding_fields(embeddings: Sequence[str]) -> None:
    """Raise :class:`InvalidInputError` for an embedding field that is not stored."""
    for name in embeddings:
        if name not in EMBEDDING_FIELDS:
            raise InvalidInputError(f"Unknown embedding field {name!r}. Available: {', '.join(EMBEDDING_FIELDS)}.")


def window_prompts(store: Store, f: RecordFilter, limit: int) -> list[Any]:
    """The logged prompts of window ``f`` (at most ``limit``, newest first; empty ones left out)."""
    page = store.repo.list_records(f, limit=limit)
    return [r.prompt for r in page.items if r.prompt_text.strip()]


def _embedding_drift(
    store: Store,
    embeddings: Sequence[str],
    encoder: str | None,
    ref_f: RecordFilter,
    cur_f: RecordFilter,
    common: dict[str, Any],
    skipped: dict[str, str],
) -> list[DriftResult]:
    """Drift tests of each embedding field; a field with too few embedded records in either window
    is noted in ``skipped`` with the reason."""
    results: list[DriftResult] = []
    for field in embeddings:
        _, ref = store.repo.get_embeddings(field, model=encoder, filter=ref_f)
        _, cur = store.repo.get_embeddings(field, model=encoder, filter=cur_f)
        if min(len(ref), len(cur)) < MIN_RECORDS:
            skipped[f"{field} embeddings"] = (
                f"{len(ref)} vs {len(cur)} embedded records; need {MIN_RECORDS} in each (run `pellucid monitor enrich`)"
            )
            continue
        results.extend(drift_report(ref, cur, name=f"{field} embeddings", **common).results)
    return results


def _scalar_pairs(
    store: Store, metrics: Sequence[str], ref_f: RecordFilter, cur_f: RecordFilter, skipped: dict[str, str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference and current values of each scalar metric; one with too few values is noted in ``skipped``."""
    scalars = {}
    for metric in metrics:
        ref_v, cur_v = store.repo.metric_values(metric, ref_f), store.repo.metric_values(metric, cur_f)
        if min(ref_v.size, cur_v.size) < MIN_RECORDS:
            skipped[metric] = f"{ref_v.size} vs {cur_v.size} values; need {MIN_RECORDS} in each"
            continue
        scalars[metric] = (ref_v, cur_v)
    return scalars


def _nothing_to_test(
    reference: str, current: str, ref_f: RecordFilter, cur_f: RecordFilter, skipped: dict[str, str]
) -> InvalidInputError:
    """The error for two windows between which no test could run, with each feature's reason."""
    reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
    return InvalidInputError(
        f"No drift check could run between {reference!r} ({describe_window(ref_f)}) and {current!r} "
        f"({describe_window(cur_f)}): {reasons or 'nothing selected'}."
    )


def _model_drift(
    hidden_states: Mapping[str, StatePair] | None,
    feature_fires: Mapping[str, StatePair] | None,
    common: dict[str, Any],
) -> list[DriftResult]:
    """The tests on what the model computed: its hidden states (MMD), then each dictionary's firing rates."""
    results: list[DriftResult] = []
    if hidden_states:
        results.extend(drift_report(hidden_states=dict(hidden_states), **common).results)
    for label, (ref_fires, cur_fires) in (feature_fires or {}).items():
        results.append(feature_frequency_drift(ref_fires, cur_fires, alpha=common["alpha"], feature=label))
    return results


def run_drift(
    store: Store,
    reference: str,
    current: str,
    *,
    metrics: Sequence[str] | None = None,
    embeddings: Sequence[str] = EMBEDDING_FIELDS,
    encoder: str | None = None,
    hidden_states: Mapping[str, StatePair] | None = None,
    skipped_states: Mapping[str, str] | None = None,
    feature_fires: Mapping[str, StatePair] | None = None,
    layer: int | None = None,
    model: str | None = None,
    alpha: float = 0.05,
    n_permutations: int = 500,
    random_state: int | None = 0,
    started: float | None = None,
) -> DriftReport:
    """Compare the ``current`` window with the ``reference`` window (specs as in :mod:`.windows`).

    ``hidden_states`` maps a feature name (``"layer 3"``) to its reference and current arrays;
    ``skipped_states`` gives the reason for hidden-state (or dictionary-feature) checks that could
    not be computed. ``feature_fires`` maps a dictionary's description to the boolean
    ``[records, latents]`` firing matrices of both windows (:mod:`.drift_features`).
    ``layer`` and ``model`` are recorded in the report's parameters, and ``started`` (a
    ``time.perf_counter()`` value) is when the work began, for the report's ``seconds``.
    """
    started = time.perf_counter() if started is None else started
    ref_f, cur_f = drift_windows(reference, current)
    check_embedding_fields(embeddings)
    skipped: dict[str, str] = {}
    common: dict[str, Any] = {"alpha": alpha, "n_permutations": n_permutations, "random_state": random_state}
    results = _embedding_drift(store, embeddings, encoder, ref_f, cur_f, common, skipped)
    scalars = _scalar_pairs(store, metrics if metrics is not None else DEFAULT_SCALARS, ref_f, cur_f, skipped)
    if scalars:
        results.extend(drift_report(scalars=scalars, alpha=alpha).results)
    skipped.update(skipped_states or {})
    results.extend(_model_drift(hidden_states, feature_fires, common))
    if not results:
        raise _nothing_to_test(reference, current, ref_f, cur_f, skipped)
    params = {
        **common,
        "reference": {"spec": reference, "window": describe_window(ref_f), "records": store.repo.count(ref_f)},
        "current": {"spec": current, "window": describe_window(cur_f), "records": store.repo.count(cur_f)},
        "skipped": skipped,
        "layer": layer,
        "model": model,
    }
    return DriftReport(results=tuple(results), seconds=time.perf_counter() - started, params=params)
