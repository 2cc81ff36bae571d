"""Drift between two windows of logged traffic, read from the store.

:func:`run_drift` is what ``pellucid monitor drift`` and ``POST /api/drift/reports`` call. It
selects two windows by spec (:mod:`.windows`: ``last:7d``, ``version:v2``, a date range...)
and runs:

- **embedding drift** on the stored MiniLM vectors of prompts and responses (written by the
  enrichment worker): MMD with a permutation test and a domain classifier's AUC;
- **scalar drift** (PSI and KS) on per-record numbers: length, latency, tokens, and the
  enrichment metrics perplexity, entropy and toxicity when present;
- optionally **hidden-state drift** of the serving model at ``layer``: the logged prompts are
  run through the model again and each prompt's residual stream after that block is
  mean-pooled over its tokens into one vector (the model's own view of the traffic).

Each check needs at least :data:`MIN_RECORDS` values in both windows; checks without enough
data are listed in ``report.params["skipped"]`` with the reason instead of failing the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor.drift import DriftReport, DriftResult, drift_report
from pellucid.monitor.records import RecordFilter
from pellucid.monitor.windows import describe_window, parse_window

if TYPE_CHECKING:
    from pellucid.models import LM
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


def _prompts(store: Store, f: RecordFilter, limit: int) -> list[Any]:
    page = store.repo.list_records(f, limit=limit)
    return [r.prompt for r in page.items if r.prompt_text.strip()]


def run_drift(
    store: Store,
    reference: str,
    current: str,
    *,
    metrics: Sequence[str] | None = None,
    embeddings: Sequence[str] = EMBEDDING_FIELDS,
    encoder: str | None = None,
    layer: int | None = None,
    lm: LM | None = None,
    max_prompts: int = 100,
    alpha: float = 0.05,
    n_permutations: int = 500,
    random_state: int | None = 0,
    progress: Progress | None = None,
) -> DriftReport:
    """Compare the ``current`` window with the ``reference`` window (specs as in :mod:`.windows`)."""
    started = time.perf_counter()
    ref_f, cur_f = parse_window(reference), parse_window(current)
    for name in embeddings:
        if name not in EMBEDDING_FIELDS:
            raise InvalidInputError(f"Unknown embedding field {name!r}. Available: {', '.join(EMBEDDING_FIELDS)}.")
    if layer is not None and lm is None:
        raise InvalidInputError("Hidden-state drift (layer=...) needs the serving model; pass lm=.")
    results: list[DriftResult] = []
    skipped: dict[str, str] = {}
    common: dict[str, Any] = {"alpha": alpha, "n_permutations": n_permutations, "random_state": random_state}
    for field in embeddings:
        _, ref = store.repo.get_embeddings(field, model=encoder, filter=ref_f)
        _, cur = store.repo.get_embeddings(field, model=encoder, filter=cur_f)
        if min(len(ref), len(cur)) < MIN_RECORDS:
            skipped[f"{field} embeddings"] = (
                f"{len(ref)} vs {len(cur)} embedded records; need {MIN_RECORDS} in each (run `pellucid monitor enrich`)"
            )
            continue
        results.extend(drift_report(ref, cur, name=f"{field} embeddings", **common).results)
    scalars = {}
    for metric in metrics if metrics is not None else DEFAULT_SCALARS:
        ref_v, cur_v = store.repo.metric_values(metric, ref_f), store.repo.metric_values(metric, cur_f)
        if min(ref_v.size, cur_v.size) < MIN_RECORDS:
            skipped[metric] = f"{ref_v.size} vs {cur_v.size} values; need {MIN_RECORDS} in each"
            continue
        scalars[metric] = (ref_v, cur_v)
    if scalars:
        results.extend(drift_report(scalars=scalars, alpha=alpha).results)
    if layer is not None and lm is not None:
        ref_p, cur_p = _prompts(store, ref_f, max_prompts), _prompts(store, cur_f, max_prompts)
        if min(len(ref_p), len(cur_p)) < MIN_RECORDS:
            skipped[f"layer {layer} hidden states"] = f"{len(ref_p)} vs {len(cur_p)} prompts; need {MIN_RECORDS}"
        else:
            total = len(ref_p) + len(cur_p)
            ref_h = hidden_state_vectors(lm, ref_p, layer, progress=progress and (lambda d, _: progress(d, total)))
            offset = len(ref_p)
            cur_h = hidden_state_vectors(
                lm, cur_p, layer, progress=progress and (lambda d, _: progress(offset + d, total))
            )
            states = {f"layer {layer}": (ref_h, cur_h)}
            results.extend(drift_report(hidden_states=states, **common).results)
    if not results:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise InvalidInputError(
            f"No drift check could run between {reference!r} ({describe_window(ref_f)}) and {current!r} "
            f"({describe_window(cur_f)}): {reasons or 'nothing selected'}."
        )
    params = {
        **common,
        "reference": {"spec": reference, "window": describe_window(ref_f), "records": store.repo.count(ref_f)},
        "current": {"spec": current, "window": describe_window(cur_f), "records": store.repo.count(cur_f)},
        "skipped": skipped,
        "layer": layer,
        "model": None if lm is None else lm.name,
    }
    return DriftReport(results=tuple(results), seconds=time.perf_counter() - started, params=params)
