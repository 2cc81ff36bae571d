"""Small statistics: how different two answers are, and how sure a rate is.

- :func:`normalize_answer` / :func:`exact_match`: answers compared after trimming and
  case-folding (``" Positive."`` equals ``"positive"``);
- :func:`cosine`: similarity of two sentence embeddings (the bundled MiniLM, L2-normalised);
- :func:`wilson_interval`: a confidence interval for a proportion that behaves at 0 and 1
  (where the normal approximation collapses to a width of zero);
- :func:`bootstrap_interval`: a percentile bootstrap interval for the mean of anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

_PUNCT = re.compile(r"[^\w\s]")


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def exact_match(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return 0.0
    return float(np.dot(u, v) / (nu * nv))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes / n`` (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def bootstrap_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``values`` (seeded)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _z(confidence: float) -> float:
    """The standard normal quantile for a two-sided ``confidence`` (inverse error function)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)
