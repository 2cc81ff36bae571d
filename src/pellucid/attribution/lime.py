"""LIME (Ribeiro et al. 2016): a weighted linear model fitted to random removals of features.

Each sample removes a random number ``k`` (uniform in 1..n) of random features, as LIME's
text explainer does; samples are weighted by an exponential kernel of their cosine distance
to the original prompt (``exp(-d² / width²)``, width 0.25), and a ridge regression with an
intercept is fitted for every row of the target function. The coefficients are the
attributions: the estimated change in the target from keeping each feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pellucid.attribution.base import Context, MethodSpec, Param, baseline_token, score_masks


def lime_masks(n: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    masks = np.ones((n_samples, n), dtype=bool)  # row 0 stays the original prompt
    for row in range(1, n_samples):
        k = rng.integers(1, n + 1)
        masks[row, rng.choice(n, size=k, replace=False)] = False
    return masks


def weighted_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``[R, n]`` and intercepts ``[R]`` of ridge regression with sample weights."""
    xm = np.average(x, axis=0, weights=w)
    ym = np.average(y, axis=0, weights=w)
    xc, yc = (x - xm) * np.sqrt(w)[:, None], (y - ym) * np.sqrt(w)[:, None]
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)  # [n, R]
    return coef.T, ym - xm @ coef


def lime(
    ctx: Context, n_samples: int = 200, baseline: str = "pad", kernel_width: float = 0.25, alpha: float = 1.0
) -> tuple[np.ndarray, dict[str, Any]]:
    n = ctx.n_features
    rng = np.random.default_rng(ctx.seed)
    masks = lime_masks(n, n_samples, rng)
    values = score_masks(ctx, masks, baseline_token(ctx.lm, baseline))
    kept = masks.sum(1)
    distance = 1 - kept / np.sqrt(kept.clip(min=1) * n)  # cosine distance to the all-ones vector
    distance[kept == 0] = 1.0
    weights = np.exp(-(distance**2) / kernel_width**2)
    coef, intercept = weighted_ridge(masks.astype(float), values, weights, alpha)
    return coef, {"intercept": intercept.tolist(), "evaluations": n_samples}


LIME = MethodSpec(
    name="lime",
    description="LIME: a locally weighted linear model fitted to random removals of features.",
    fn=lime,
    params=(
        Param("n_samples", "int", 200, "Perturbed prompts to evaluate.", min=2),
        Param("baseline", "str", "pad", "Token that replaces removed features."),
        Param("kernel_width", "float", 0.25, "Width of the exponential similarity kernel.", min=1e-6),
        Param("alpha", "float", 1.0, "Ridge regularisation strength.", min=0.0),
    ),
)
