"""Shapley values of the prompt's features: exact, and estimated by KernelSHAP.

A *coalition* ``S`` keeps the features in ``S`` and replaces the others by a baseline token;
``v(S)`` is the target function on that prompt. The Shapley value of feature ``i`` is its
average marginal contribution over all orders in which features could be added:

    φᵢ = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S))

Shapley values are the unique attribution with *efficiency* (``Σ φ = v(N) − v(∅)``),
*symmetry*, *dummy* and *additivity*.

- ``shapley`` enumerates all ``2ⁿ`` coalitions (``n`` ≤ ``max_features``, 12 by default).
- ``kernel_shap`` (Lundberg & Lee 2017) fits a linear model on sampled coalitions weighted by
  the Shapley kernel, with efficiency imposed exactly. Coalitions are drawn in
  complementary pairs (antithetic sampling lowers the variance), the sizes carrying most of
  the kernel's mass are enumerated completely when the budget allows, and when the budget
  covers every coalition the fit is the exact Shapley value.

Both record ``meta["efficiency_gap"]``: ``|Σ φ − (v(N) − v(∅))|`` for the sequence row.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from pellucid.attribution.base import Context, MethodSpec, Param, baseline_token, score_masks
from pellucid.errors import InvalidInputError


def _efficiency_gap(phi: np.ndarray, v_full: np.ndarray, v_empty: np.ndarray) -> float:
    return float(abs(phi[-1].sum() - (v_full[-1] - v_empty[-1])))


def all_coalitions(n: int) -> np.ndarray:
    return np.array(list(itertools.product([False, True], repeat=n)), dtype=bool)


def exact_shapley_values(masks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Shapley values ``[R, n]`` from the values ``[2ⁿ, R]`` of every coalition ``masks [2ⁿ, n]``."""
    n = masks.shape[1]
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    size = masks.sum(1)
    w_in = np.where(size > 0, weight[np.clip(size - 1, 0, n - 1)], 0.0)  # S ∪ {i}, |S| = size - 1
    w_out = np.where(size < n, weight[np.clip(size, 0, n - 1)], 0.0)  # S without i
    coef = masks * w_in[:, None] - (~masks) * w_out[:, None]  # [2ⁿ, n]
    return (coef.T @ values).T


def shapley(ctx: Context, baseline: str = "pad", max_features: int = 12) -> tuple[np.ndarray, dict[str, Any]]:
    n = ctx.n_features
    if n > max_features:
        raise InvalidInputError(
            f"Exact Shapley needs 2^{n} = {2**n:,} evaluations for {n} features; the limit is "
            f"{max_features} features. Use method='kernel_shap', a coarser granularity (sentence), "
            "or raise max_features."
        )
    masks = all_coalitions(n)
    values = score_masks(ctx, masks, baseline_token(ctx.lm, baseline))
    phi = exact_shapley_values(masks, values)
    full, empty = values[-1], values[0]
    return phi, {"efficiency_gap": _efficiency_gap(phi, full, empty), "evaluations": len(masks)}


def _kernel_weight(n: int, size: np.ndarray) -> np.ndarray:
    return (n - 1) / (np.array([math.comb(n, int(s)) for s in size]) * size * (n - size))


def sample_coalitions(n: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (no empty/full) and their regression weights.

    All ``2ⁿ - 2`` coalitions with exact kernel weights when the budget allows. Otherwise, as in
    the SHAP library's KernelExplainer, the sizes with the most kernel mass (``s`` and ``n - s``
    for small ``s``) are enumerated completely, with their exact weights, while the budget
    would sample that many of them anyway; the rest of the budget draws complementary pairs
    from the remaining sizes (size ∝ kernel mass), weighted equally to carry the remaining mass.
    """
    if 2**n - 2 <= n_samples:
        masks = all_coalitions(n)[1:-1]
        return masks, _kernel_weight(n, masks.sum(1))
    mass = {s: (n - 1) / (s * (n - s)) for s in range(1, n)}  # kernel mass of all coalitions of size s
    parts, weights = [], []
    budget, mass_left = n_samples, sum(mass.values())
    remaining = list(range(1, n))
    for s in range(1, n // 2 + 1):
        sizes = [s] if s == n - s else [s, n - s]
        count = sum(math.comb(n, k) for k in sizes)
        pair_mass = sum(mass[k] for k in sizes)
        if count > budget or budget * pair_mass / mass_left < count:
            break
        for k in sizes:
            for kept in itertools.combinations(range(n), k):
                row = np.zeros(n, dtype=bool)
                row[list(kept)] = True
                parts.append(row)
                weights.append(mass[k] / math.comb(n, k))
            remaining.remove(k)
        budget -= count
        mass_left -= pair_mass
    half = budget // 2
    if remaining and half > 0:
        left_sizes = np.array(remaining)
        p = np.array([mass[int(k)] for k in left_sizes])
        p /= p.sum()
        for s in rng.choice(left_sizes, size=half, p=p):
            row = np.zeros(n, dtype=bool)
            row[rng.choice(n, size=int(s), replace=False)] = True
            parts.extend([row, ~row])
            weights.extend([mass_left / (2 * half)] * 2)
    return np.array(parts, dtype=bool).reshape(-1, n), np.array(weights)


def constrained_fit(z: np.ndarray, y: np.ndarray, w: np.ndarray, v_empty: np.ndarray, v_full: np.ndarray) -> np.ndarray:
    """Weighted least squares of ``y - v(∅) ≈ z φ`` subject to ``Σ φ = v(N) - v(∅)`` (per row)."""
    delta = v_full - v_empty  # [R]
    target = y - v_empty[None, :] - z[:, -1:] * delta[None, :]  # eliminate φ_n
    design = z[:, :-1] - z[:, -1:]
    sw = np.sqrt(w)[:, None]
    head, *_ = np.linalg.lstsq(design * sw, target * sw, rcond=None)  # [n-1, R]
    last = delta - head.sum(0)
    return np.vstack([head, last[None, :]]).T  # [R, n]


def kernel_shap(ctx: Context, n_samples: int = 200, baseline: str = "pad") -> tuple[np.ndarray, dict[str, Any]]:
    n = ctx.n_features
    replacement = baseline_token(ctx.lm, baseline)
    if n == 1:
        ends = score_masks(ctx, np.array([[False], [True]]), replacement)
        return (ends[1] - ends[0])[:, None], {"efficiency_gap": 0.0, "evaluations": 2}
    rng = np.random.default_rng(ctx.seed)
    masks, weights = sample_coalitions(n, n_samples, rng)
    ends = np.array([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)])
    values = score_masks(ctx, np.vstack([ends, masks]), replacement)
    v_empty, v_full, v = values[0], values[1], values[2:]
    phi = constrained_fit(masks.astype(float), v, weights, v_empty, v_full)
    exact = 2**n - 2 <= n_samples
    return phi, {
        "efficiency_gap": _efficiency_gap(phi, v_full, v_empty),
        "evaluations": len(values),
        "exhaustive": exact,
    }


SHAPLEY = MethodSpec(
    name="shapley",
    description="Exact Shapley values over all coalitions of features (few features only).",
    fn=shapley,
    params=(
        Param("baseline", "str", "pad", "Token that replaces features left out of a coalition."),
        Param("max_features", "int", 12, "Refuse more features than this (2^n evaluations).", min=1, max=20),
    ),
)
KERNEL_SHAP = MethodSpec(
    name="kernel_shap",
    description="KernelSHAP: Shapley values estimated from sampled coalitions, efficiency exact.",
    fn=kernel_shap,
    params=(
        Param("n_samples", "int", 200, "Coalitions to evaluate (paired with their complements).", min=2),
        Param("baseline", "str", "pad", "Token that replaces features left out of a coalition."),
    ),
)
