"""Drift between two windows of logged traffic: the model's part, then the store's detectors.

:func:`run_drift` is what ``pellucid monitor drift`` and ``POST /api/drift/reports`` run (through
:func:`drift_report`, which also saves the report). Embedding and scalar drift need no model:
the store holds the MiniLM vectors (written by enrichment) and the per-record numbers, and
:func:`pellucid.monitor.drift_run.run_drift` tests them. Hidden-state drift needs the serving
model, so it is computed here: the logged prompts of each window are run through the model
again and each prompt's residual stream after block ``layer`` is mean-pooled over its tokens
into one vector (the model's own view of the traffic); the two arrays go down to the store's
detectors like any other feature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor import drift_run
from pellucid.monitor.drift import DriftReport
from pellucid.monitor.drift_run import EMBEDDING_FIELDS, MIN_RECORDS, StatePair
from pellucid.monitor.windows import drift_windows

if TYPE_CHECKING:
    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models import LM
    from pellucid.monitor.analytics_records import DriftReportInfo
    from pellucid.monitor.store import Store

Progress = Callable[[int, int], None]


def hidden_state_vectors(lm: LM, prompts: Sequence[Any], layer: int, *, progress: Progress | None = None) -> np.ndarray:
    """One vector per prompt: the residual stream after block ``layer``, mean-pooled over tokens."""
    if not 0 <= layer < lm.n_layers:
        raise InvalidInputError(f"layer={layer} is out of range: {lm.name} has layers 0 to {lm.n_layers - 1}.")
    site = f"blocks.{layer}.resid_post"
    rows = []
    for i, prompt in enumerate(prompts, start=1):
        _, cache = lm.run_with_cache(prompt, [site])
        rows.append(cache[site][0].float().mean(dim=0).cpu().numpy())
        if progress is not None:
            progress(i, len(prompts))
    return np.stack(rows).astype(np.float64)


def _window_states(
    store: Store, lm: LM, reference: str, current: str, layer: int, max_prompts: int, progress: Progress | None
) -> tuple[dict[str, StatePair], dict[str, str]]:
    """The hidden states of both windows' prompts, or the reason they could not be compared."""
    feature = f"layer {layer}"
    ref_f, cur_f = drift_windows(reference, current)
    ref_p = drift_run.window_prompts(store, ref_f, max_prompts)
    cur_p = drift_run.window_prompts(store, cur_f, max_prompts)
    if min(len(ref_p), len(cur_p)) < MIN_RECORDS:
        return {}, {f"{feature} hidden states": f"{len(ref_p)} vs {len(cur_p)} prompts; need {MIN_RECORDS}"}
    total = len(ref_p) + len(cur_p)
    ref_h = hidden_state_vectors(lm, ref_p, layer, progress=progress and (lambda d, _: progress(d, total)))
    offset = len(ref_p)
    cur_h = hidden_state_vectors(lm, cur_p, layer, progress=progress and (lambda d, _: progress(offset + d, total)))
    return {feature: (ref_h, cur_h)}, {}


def feature_fire_matrix(
    lm: LM, dictionary: SparseDictionary, prompts: Sequence[Any], *, progress: Progress | None = None
) -> np.ndarray:
    """``[prompts, latents]`` booleans: does each latent fire at any token of each prompt."""
    import torch

    site = dictionary.config.site
    rows = []
    for i, prompt in enumerate(prompts, start=1):
        _, cache = lm.run_with_cache(prompt, [site])
        with torch.no_grad():
            rows.append((dictionary.encode(cache[site][0].float()) > 0).any(dim=0).cpu().numpy())
        if progress is not None:
            progress(i, len(prompts))
    return np.stack(rows) if rows else np.zeros((0, dictionary.d_sae), dtype=bool)


def _stored_features(
    store: Store, folder: str | Path, reference: str, current: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Both windows' firing matrices from stored feature enrichment, or ``None`` when too few records have it."""
    from pellucid.features.saelens_format import read_config
    from pellucid.service.feature_enrichment import dictionary_name

    name = dictionary_name(folder)
    ref_f, cur_f = drift_windows(reference, current)
    ref_ids, ref_sets = store.repo.feature_sets(name, ref_f)
    cur_ids, cur_sets = store.repo.feature_sets(name, cur_f)
    if min(len(ref_ids), len(cur_ids)) < MIN_RECORDS:
        return None
    width = int(read_config(Path(folder))["d_sae"])

    def matrix(ids: list[str], sets: dict[str, list[int]]) -> np.ndarray:
        out = np.zeros((len(ids), width), dtype=bool)
        for row, rid in enumerate(ids):
            out[row, sets[rid]] = True
        return out

    return matrix(ref_ids, ref_sets), matrix(cur_ids, cur_sets)


def _window_features(
    store: Store, lm: LM | None, folder: str | Path, reference: str, current: str, max_prompts: int,
    progress: Progress | None,
) -> tuple[dict[str, StatePair], dict[str, str]]:  # fmt: skip
    """Both windows' feature firing matrices, or the reason they could not be compared.

    Stored feature enrichment (the responses' top features) is used when both windows have
    enough of it; otherwise the logged prompts are run through ``lm`` now.
    """
    from pellucid.features.saelens_format import load

    stored = _stored_features(store, folder, reference, current)
    if stored is not None:
        return {f"response features of {Path(folder).name} (stored)": stored}, {}
    if lm is None:
        raise InvalidInputError(
            f"Too few records in these windows have stored features of {Path(folder).name!r} "
            "(run `pellucid features enrich DIR`), and computing them from the prompts needs the "
            "model the dictionary belongs to; pass lm= (--model)."
        )
    dictionary = load(folder, lm)
    label = f"prompt features of {Path(folder).name} at {dictionary.config.site}"
    ref_w, cur_w = drift_windows(reference, current)
    ref_p = drift_run.window_prompts(store, ref_w, max_prompts)
    cur_p = drift_run.window_prompts(store, cur_w, max_prompts)
    if min(len(ref_p), len(cur_p)) < MIN_RECORDS:
        return {}, {label: f"{len(ref_p)} vs {len(cur_p)} prompts; need {MIN_RECORDS}"}
    total = len(ref_p) + len(cur_p)
    ref_f = feature_fire_matrix(lm, dictionary, ref_p, progress=progress and (lambda d, _: progress(d, total)))
    offset = len(ref_p)
    cur_f = feature_fire_matrix(lm, dictionary, cur_p, progress=progress and (lambda d, _: progress(offset + d, total)))
    return {label: (ref_f, cur_f)}, {}


def run_drift(
    store: Store,
    reference: str,
    current: str,
    *,
    metrics: Sequence[str] | None = None,
    embeddings: Sequence[str] = EMBEDDING_FIELDS,
    encoder: str | None = None,
    layer: int | None = None,
    features: str | Path | None = None,
    lm: LM | None = None,
    max_prompts: int = 100,
    alpha: float = 0.05,
    n_permutations: int = 500,
    random_state: int | None = 0,
    progress: Progress | None = None,
) -> DriftReport:
    """Compare the ``current`` window with the ``reference`` window (specs as in
    :mod:`pellucid.monitor.windows`); with ``layer``, also the hidden states of ``lm`` there; with
    ``features`` (a dictionary folder), how often each of its features fires in the prompts."""
    started = time.perf_counter()
    drift_windows(reference, current)  # bad or overlapping windows fail before any model work
    drift_run.check_embedding_fields(embeddings)
    if layer is not None and lm is None:
        raise InvalidInputError("Hidden-state drift (layer=...) needs the serving model; pass lm=.")
    states: dict[str, StatePair] = {}
    skipped: dict[str, str] = {}
    if layer is not None and lm is not None:
        states, skipped = _window_states(store, lm, reference, current, layer, max_prompts, progress)
    fires: dict[str, StatePair] = {}
    if features is not None:
        fires, skipped_features = _window_features(store, lm, features, reference, current, max_prompts, progress)
        skipped.update(skipped_features)
    return drift_run.run_drift(
        store, reference, current, metrics=metrics, embeddings=embeddings, encoder=encoder, hidden_states=states,
        skipped_states=skipped, feature_fires=fires, layer=layer, model=None if lm is None else lm.name, alpha=alpha,
        n_permutations=n_permutations, random_state=random_state, started=started,
    )  # fmt: skip


def drift_report(
    store: Store,
    reference: str,
    current: str,
    *,
    save: bool = True,
    name: str | None = None,
    **options: Any,
) -> tuple[DriftReport, DriftReportInfo | None]:
    """Run drift (options as for :func:`run_drift`) and, when ``save``, keep the report in the
    store for the web view: returns the report and its stored row (``None`` when not saved)."""
    report = run_drift(store, reference, current, **options)
    saved = store.reports.save_drift_report(reference, current, report.to_dict(), name=name) if save else None
    return report, saved
