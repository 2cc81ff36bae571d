"""Which concepts appeared or vanished: drift in how often each dictionary feature fires.

Each record is reduced to the set of dictionary latents that fire anywhere in its text (a row
of a boolean matrix ``[records, latents]``, computed one layer up by the service that holds the
model). For every latent that fires in either window, Fisher's exact test compares its firing
rate in the reference and current windows; Benjamini–Hochberg then controls the false discovery
rate over all the latents tested, so testing thousands of features does not raise alarms by
chance. The window has drifted when at least one latent's adjusted ``q`` is below ``alpha``;
the result lists the latents that moved most (appeared, vanished, rose, fell), each with both
rates, ``p`` and ``q``.

Everything here is plain arrays: no model, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import fisher_exact

from pellucid.monitor.drift_base import DriftInputError, DriftResult

#: latents listed in a result's ``details["moved"]``
TOP_MOVED = 20


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Adjusted ``q`` values (Benjamini & Hochberg 1995): ``q_(i) = min_{j ≥ i} p_(j) · m / j``."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def _check(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, cur = np.asarray(reference, dtype=bool), np.asarray(current, dtype=bool)
    if ref.ndim != 2 or cur.ndim != 2 or ref.shape[1] != cur.shape[1]:
        raise DriftInputError(
            f"Feature firing matrices must be [records, latents] with the same latents; got {ref.shape} and "
            f"{cur.shape}. Compute both windows with the same dictionary."
        )
    if min(len(ref), len(cur)) < 2:
        raise DriftInputError(f"Feature drift needs at least 2 records per window; got {len(ref)} and {len(cur)}.")
    return ref, cur


def _movement(latent: int, ref_rate: float, cur_rate: float, p: float, q: float, label: str | None) -> dict[str, Any]:
    if ref_rate == 0:
        how = "appeared"
    elif cur_rate == 0:
        how = "vanished"
    else:
        how = "rose" if cur_rate > ref_rate else "fell" if cur_rate < ref_rate else "unchanged"
    row: dict[str, Any] = {"latent": latent, "change": how, "reference_rate": ref_rate, "current_rate": cur_rate}
    row.update(p_value=p, q_value=q)
    if label is not None:
        row["label"] = label
    return row


def _fisher_p_values(
    ref_hits: np.ndarray, n_ref: int, cur_hits: np.ndarray, n_cur: int, tested: np.ndarray
) -> np.ndarray:
    """Per tested latent, Fisher's exact p-value of its firing count in the two windows."""
    return np.array(
        [fisher_exact([[ref_hits[j], n_ref - ref_hits[j]], [cur_hits[j], n_cur - cur_hits[j]]])[1] for j in tested],
        dtype=np.float64,
    )


def feature_frequency_drift(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    alpha: float = 0.05,
    feature: str = "features",
    labels: Sequence[str] | None = None,
) -> DriftResult:
    """Test every latent's firing rate between two windows (see the module).

    Args:
        reference, current: boolean ``[records, latents]``: does latent ``j`` fire in record ``i``.
        alpha: the false discovery rate the decision controls.
        feature: what the latents are, for the verdict (``"features of sae/ at blocks.15.resid_post"``).
        labels: optional names of the latents, shown next to their ids.
    """
    if not 0 < alpha < 1:
        raise DriftInputError(f"alpha={alpha}; it must be between 0 and 1 (e.g. 0.05).")
    ref, cur = _check(reference, current)
    ref_hits, cur_hits = ref.sum(0), cur.sum(0)
    tested = np.flatnonzero((ref_hits + cur_hits) > 0)
    p = _fisher_p_values(ref_hits, len(ref), cur_hits, len(cur), tested)
    q = benjamini_hochberg(p)
    ref_rate, cur_rate = ref_hits / len(ref), cur_hits / len(cur)
    order = np.lexsort((-np.abs(cur_rate[tested] - ref_rate[tested]), q))[:TOP_MOVED]
    moved = [
        _movement(int(tested[i]), float(ref_rate[tested[i]]), float(cur_rate[tested[i]]), float(p[i]), float(q[i]),
                  None if labels is None else labels[int(tested[i])])
        for i in order
    ]  # fmt: skip
    significant = int((q < alpha).sum())
    best_q = float(q.min()) if q.size else 1.0
    return DriftResult(
        detector="feature_frequency",
        statistic=float(significant),
        p_value=best_q,
        threshold=alpha,
        drifted=significant > 0,
        verdict=_verdict(feature, significant, len(tested), moved, alpha, len(ref), len(cur)),
        details={
            "n_reference": len(ref),
            "n_current": len(cur),
            "latents_tested": int(tested.size),
            "latents_moved": significant,
            "moved": moved,
            "correction": "benjamini-hochberg",
        },  # fmt: skip
        feature=feature,
    )


def _verdict(
    feature: str, significant: int, tested: int, moved: list[dict[str, Any]], alpha: float, n_ref: int, n_cur: int
) -> str:
    sizes = f"{n_ref} vs {n_cur} records"
    if not tested:
        return f"No drift in {feature}: no latent fires in either window ({sizes})."
    if not significant:
        return (
            f"No drift in {feature}: none of the {tested} latents that fire changed its rate at a false discovery "
            f"rate of {alpha:g} ({sizes})."
        )
    top = moved[0]
    return (
        f"Drift in {feature}: {significant} of {tested} latents changed how often they fire (FDR {alpha:g}, {sizes}); "
        f"most: latent {top['latent']} {top['change']} ({top['reference_rate']:.0%} -> {top['current_rate']:.0%} "
        f"of records, q = {top['q_value']:.2g})."
    )
