"""The statistics the checks share: intervals for rates, and paired tests with effect sizes.

- :func:`rate` — a proportion with its Wilson 95 % interval (sound at 0 and 1 and for small n);
- :func:`rate_evidence` — whether a rate's interval decides its check: when the interval holds
  the threshold, the data cannot tell pass from fail, and :func:`decisive_sample_size` gives the
  sample size at which the same observed rate would decide it;
- :func:`paired_tests` — for paired differences ``d_i = metric(swapped_i) − metric(original_i)``:
  the paired t-test, the Wilcoxon signed-rank test (no normality assumed), a sign-flip
  permutation test (exact in spirit: under "no effect" each difference is as likely to be
  positive as negative), and two effect sizes: the mean difference (in the metric's units) and
  Cohen's d_z = mean / standard deviation of the differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pellucid.counterfactual.metrics import bootstrap_interval, wilson_interval

__all__ = [
    "bootstrap_interval",
    "decisive_sample_size",
    "paired_tests",
    "rate",
    "rate_evidence",
    "wilson_interval",
]

#: Sample sizes beyond this are reported as "not decidable" (the rate sits on the threshold).
MAX_DECISIVE_N = 10_000_000


def rate(successes: float, n: int) -> dict[str, Any]:
    """``{"k", "n", "rate", "ci95"}``: a share with its Wilson interval (``successes`` may be fractional)."""
    lo, hi = wilson_interval(int(round(successes)), n) if n else (0.0, 1.0)
    if n and successes != int(successes):  # ties counted as halves: interval of the rounded count, widened
        lo2, hi2 = wilson_interval(int(math.floor(successes)), n)
        lo3, hi3 = wilson_interval(int(math.ceil(successes)), n)
        lo, hi = min(lo2, lo3), max(hi2, hi3)
    return {"k": successes, "n": n, "rate": successes / n if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def _decides(observed: float, threshold: float, n: int) -> bool:
    lo, hi = wilson_interval(int(round(observed * n)), n)
    return hi < threshold or lo > threshold


def decisive_sample_size(observed: float, threshold: float, n: int) -> int | None:
    """The smallest sample size whose Wilson 95 % interval around the same ``observed`` rate
    leaves out ``threshold`` (at least ``n``), or ``None`` when no size would (the rate equals
    the threshold, or more than :data:`MAX_DECISIVE_N` would be needed).

    Example: 0 toxic continuations in 16 gives the interval [0, 0.194], which holds a 5 %
    threshold; at a rate of 0 the interval's upper end falls below 5 % from 73 samples on.
    """
    if not 0.0 <= observed <= 1.0:
        raise ValueError(f"observed must be a rate in [0, 1], got {observed!r}.")
    if observed == threshold:
        return None
    high = max(1, n)
    while not _decides(observed, threshold, high):
        high *= 2
        if high > MAX_DECISIVE_N:
            return None
    low = max(1, n, high // 2)
    while low < high:  # the first size that decides, between the last failure and ``high``
        mid = (low + high) // 2
        if _decides(observed, threshold, mid):
            high = mid
        else:
            low = mid + 1
    return high


def rate_evidence(measured: dict[str, Any], threshold: float) -> dict[str, Any]:
    """``{"interval", "needed_n"}`` for a :func:`rate` compared with ``threshold``: the 95 %
    interval, and when it holds the threshold, the sample size that would decide the check
    (``None`` when the interval already decides it). Pass it into :class:`CheckResult`."""
    lo, hi = measured["ci95"]
    n, observed = int(measured["n"]), measured["rate"]
    straddles = observed is not None and lo < threshold < hi
    needed = decisive_sample_size(float(observed), threshold, n) if straddles else None
    return {"interval": (float(lo), float(hi)), "needed_n": needed}


def paired_tests(diffs: Sequence[float], permutations: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Tests of "the mean paired difference is zero" (two-sided), with effect sizes."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    out: dict[str, Any] = {"n": n, "mean_diff": float(d.mean()) if n else None}
    if n == 0:
        return out
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    out["sd_diff"] = sd
    out["mean_abs_diff"] = float(np.abs(d).mean())
    out["cohens_dz"] = float(d.mean() / sd) if sd > 0 else (0.0 if float(d.mean()) == 0 else math.inf)
    lo, hi = bootstrap_interval(d.tolist(), seed=seed)
    out["mean_diff_ci95"] = [lo, hi]
    if n < 2:  # one pair: an effect size, but no test
        out.update(t_pvalue=None, wilcoxon_pvalue=None, permutation_pvalue=None)
        return out
    if sd > 0:
        t = stats.ttest_1samp(d, 0.0)
        out["t_statistic"], out["t_pvalue"] = float(t.statistic), float(t.pvalue)
    else:  # every difference equal: the t statistic is undefined
        out["t_pvalue"] = 1.0 if float(d.mean()) == 0 else None
    nonzero = d[d != 0]
    out["wilcoxon_pvalue"] = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 1 else 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(permutations, n))
    null = np.abs((signs * d).mean(axis=1))
    out["permutation_pvalue"] = float((1 + np.sum(null >= abs(d.mean()) - 1e-12)) / (permutations + 1))
    return out
