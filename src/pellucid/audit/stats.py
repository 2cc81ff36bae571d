"""The statistics the checks share: intervals for rates, and paired tests with effect sizes.

- :func:`rate` — a proportion with its Wilson 95 % interval (sound at 0 and 1 and for small n);
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

__all__ = ["bootstrap_interval", "paired_tests", "rate", "wilson_interval"]


def rate(successes: float, n: int) -> dict[str, Any]:
    """``{"k", "n", "rate", "ci95"}``: a share with its Wilson interval (``successes`` may be fractional)."""
    lo, hi = wilson_interval(int(round(successes)), n) if n else (0.0, 1.0)
    if n and successes != int(successes):  # ties counted as halves: interval of the rounded count, widened
        lo2, hi2 = wilson_interval(int(math.floor(successes)), n)
        lo3, hi3 = wilson_interval(int(math.ceil(successes)), n)
        lo, hi = min(lo2, lo3), max(hi2, hi3)
    return {"k": successes, "n": n, "rate": successes / n if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


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
