"""Embedding drift by the maximum mean discrepancy (MMD), with a permutation test.

What MMD measures. Map every vector into a space of smooth features through a kernel —
here the Gaussian (RBF) kernel ``k(x, y) = exp(-‖x − y‖² / (2σ²))``, a similarity that is 1 for
identical vectors and falls towards 0 as they move apart. The MMD is the distance between
the *average* feature vectors of the two samples. With this kernel it is zero only when the
two distributions are identical, so it sees any change — a shift of the mean, a new cluster of
prompts, a narrower spread — not only changes of the average embedding.

The unbiased estimate over a reference ``X`` (m vectors) and current ``Y`` (n vectors) is::

    MMD² = mean_{i≠j} k(xᵢ, xⱼ) + mean_{i≠j} k(yᵢ, yⱼ) − 2 · mean_{i,j} k(xᵢ, yⱼ)

"within-reference similarity + within-current similarity − twice the cross similarity". It
hovers around 0 (it can be slightly negative) when nothing changed.

The bandwidth σ is the median distance between the pooled vectors (the "median heuristic").
It is a symmetric function of the pooled sample — it does not depend on which vectors are
labelled "reference" — so shuffling the labels leaves it unchanged and the permutation test
below is exact.

How to read the p-value. Shuffle the pooled vectors into two groups of the same sizes many
times (``n_permutations``) and recompute MMD² each time: that is what the statistic looks like
when the labels "reference"/"current" mean nothing. The p-value is the share of shuffles at
least as large as the observed value (``(1 + count) / (1 + n_permutations)``, so never 0). A
small p-value (< ``alpha``) says the difference is larger than shuffling produces: drift.
The smallest attainable p-value is ``1 / (1 + n_permutations)``.

Speed. All kernel values are computed once; each shuffle is a 0/1 column, so every
shuffle's within- and cross-sums come from one matrix product ``K @ A``. The kernel matrix is
quadratic in the number of vectors, so each window is first reduced to a uniform random
subsample of ``max_samples`` vectors (1,000 by default: 10,000 × 384 vs 10,000 × 384 takes a
fraction of a second); ``details["subsampled"]`` and the verdict say when that happened.

:class:`HiddenStateDrift` runs the same test on a model layer's mean-pooled hidden states,
each dimension standardised over the pooled vectors (a few "massive activation" dimensions
would otherwise decide every distance).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from pellucid.monitor.drift_base import (
    DriftInputError,
    DriftResult,
    as_matrix,
    check_fraction,
    check_min_samples,
    check_positive_int,
    format_stat,
    hypothesis_verdict,
    require_fitted,
    sizes_phrase,
    subsample,
)

#: Pairwise distances used for the median heuristic come from at most this many vectors.
_MEDIAN_SAMPLE = 1000
#: Shuffles are processed in blocks of this many columns to bound memory.
_PERMUTATION_BLOCK = 256


def make_rng(seed: int | None, stream: int) -> np.random.Generator:
    """An independent generator per use (``fit`` / ``test``) so results do not depend on call order."""
    return np.random.default_rng(None if seed is None else [int(seed), stream])


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``‖aᵢ − bⱼ‖²`` for all pairs, by one matrix product (clipped at 0 against rounding)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)


def median_heuristic(x: np.ndarray, rng: np.random.Generator) -> float:
    """Median pairwise Euclidean distance between distinct rows of ``x`` (σ of the RBF kernel)."""
    x = subsample(x, _MEDIAN_SAMPLE, rng)
    distances = np.sqrt(squared_distances(x, x)[np.triu_indices(x.shape[0], k=1)])
    positive = distances[distances > 0]
    if positive.size == 0:
        return 1.0  # every vector is identical: any scale will do
    median = float(np.median(distances))
    return median if median > 0 else float(np.median(positive))


def rbf_kernel(z: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel matrix of ``z`` with itself, diagonal set to 0 (the unbiased sums skip i = j)."""
    k = squared_distances(z, z)
    k *= -1.0 / (2.0 * bandwidth * bandwidth)
    np.exp(k, out=k)
    np.fill_diagonal(k, 0.0)
    return k


def _mmd2_from_sums(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray, m: int, n: int) -> np.ndarray:
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)


def mmd2_permutation_test(
    x: np.ndarray, y: np.ndarray, bandwidth: float, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float, np.ndarray]:
    """Unbiased MMD² of ``x`` vs ``y`` and its permutation p-value.

    Returns ``(mmd2, p_value, null)`` where ``null`` holds the MMD² of every shuffle.
    """
    m, n = x.shape[0], y.shape[0]
    kernel = rbf_kernel(np.vstack([x, y]), bandwidth)
    row_sums = kernel.sum(1)
    total = float(row_sums.sum())
    stats: list[np.ndarray] = []
    labels = np.arange(m + n)
    for start in range(0, n_permutations + 1, _PERMUTATION_BLOCK):
        cols = min(_PERMUTATION_BLOCK, n_permutations + 1 - start)
        order = rng.permuted(np.tile(labels, (cols, 1)), axis=1)
        if start == 0:
            order[0] = labels  # column 0 is the observed split
        member = np.zeros((m + n, cols))
        member[order[:, :m], np.arange(cols)[:, None]] = 1.0
        sxx = np.einsum("ij,ij->j", member, kernel @ member)
        sxy = member.T @ row_sums - sxx
        syy = total - sxx - 2.0 * sxy
        stats.append(_mmd2_from_sums(sxx, sxy, syy, m, n))
    all_stats = np.concatenate(stats)
    observed, null = float(all_stats[0]), all_stats[1:]
    p_value = (1.0 + float(np.sum(null >= observed))) / (1.0 + n_permutations)
    return observed, p_value, null


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """The unbiased MMD² alone (no test): useful for checks and small samples."""
    stat, _, _ = mmd2_permutation_test(x, y, bandwidth, 0, np.random.default_rng(0))
    return stat


class MMDDrift:
    """Kernel two-sample test (MMD² with an RBF kernel) between reference and current vectors.

    Parameters:
        alpha: significance level; drift when the permutation p-value is below it.
        n_permutations: shuffles for the p-value (the smallest p-value is ``1/(1+n)``).
        max_samples: each window is reduced to at most this many random vectors
            (``None``: use all; the cost grows with the square of the total).
        bandwidth: RBF σ; ``None`` uses the median heuristic on the pooled vectors.
        random_state: seed for subsampling and shuffles (``None``: not reproducible).
        name: what the vectors represent, used in the verdict ("prompt embeddings").

    Fitted attributes: ``reference_`` (the retained reference vectors), ``n_reference_``,
    ``n_features_in_``. The bandwidth used is reported in ``details["bandwidth"]``.
    """

    detector = "mmd"
    unit = "embeddings"

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        n_permutations: int = 500,
        max_samples: int | None = 1000,
        bandwidth: float | None = None,
        random_state: int | None = 0,
        name: str = "embeddings",
    ) -> None:
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.bandwidth = bandwidth
        self.random_state = random_state
        self.name = name

    def _check_params(self) -> None:
        check_fraction(self.alpha, "alpha")
        check_positive_int(self.n_permutations, "n_permutations")
        if self.max_samples is not None:
            check_positive_int(self.max_samples, "max_samples", minimum=2)
        if self.bandwidth is not None and not float(self.bandwidth) > 0:
            raise DriftInputError(f"bandwidth must be > 0 or None (median heuristic); got {self.bandwidth!r}.")

    def _prepare(self, values: ArrayLike, name: str, fitting: bool) -> np.ndarray:
        """Validate (and, in subclasses, transform) the vectors of one window."""
        dim = None if fitting else self.n_features_in_
        return as_matrix(values, name, dim=dim)

    def fit(self, reference: ArrayLike) -> Self:
        """Validate the reference vectors and keep (a random subsample of) them."""
        self._check_params()
        x = self._prepare(reference, "reference", fitting=True)
        check_min_samples(x.shape[0], 2, "reference")
        self.n_reference_ = int(x.shape[0])
        self.n_features_in_ = int(x.shape[1])
        self.reference_ = subsample(x, self.max_samples, make_rng(self.random_state, 0))
        return self

    def _pooled(self, z: np.ndarray) -> np.ndarray:
        """Transform applied to the pooled vectors before the kernel (none here)."""
        return z

    def test(self, current: ArrayLike) -> DriftResult:
        """Compare the current vectors with the fitted reference."""
        require_fitted(self, "reference_")
        self._check_params()
        y_all = self._prepare(current, "current", fitting=False)
        check_min_samples(y_all.shape[0], 2, "current")
        y = subsample(y_all, self.max_samples, make_rng(self.random_state, 1))
        m, n = self.reference_.shape[0], y.shape[0]
        z = self._pooled(np.vstack([self.reference_, y]))
        rng = make_rng(self.random_state, 2)
        bandwidth = float(self.bandwidth) if self.bandwidth is not None else median_heuristic(z, rng)
        stat, p_value, null = mmd2_permutation_test(z[:m], z[m:], bandwidth, self.n_permutations, rng)
        drifted = p_value < self.alpha
        subsampled = m < self.n_reference_ or n < y_all.shape[0]
        note = f"random subsamples of {self.n_reference_:,} vs {y_all.shape[0]:,}" if subsampled else ""
        sizes = sizes_phrase(m, n, self.unit, note)
        details = {
            "n_reference": self.n_reference_,
            "n_current": int(y_all.shape[0]),
            "n_reference_used": m,
            "n_current_used": n,
            "subsampled": subsampled,
            "subsample_method": "uniform without replacement, seeded by random_state" if subsampled else None,
            "max_samples": self.max_samples,
            "n_features": self.n_features_in_,
            "kernel": "rbf",
            "bandwidth": bandwidth,
            "bandwidth_rule": "fixed" if self.bandwidth is not None else "median heuristic on the pooled vectors",
            "n_permutations": self.n_permutations,
            "null_mean": float(null.mean()) if null.size else None,
            "null_q95": float(np.quantile(null, 0.95)) if null.size else None,
            "random_state": self.random_state,
            **self._extra_details(),
        }
        figures = f"MMD²={format_stat(stat)}"
        return DriftResult(
            detector=self.detector,
            statistic=stat,
            p_value=p_value,
            threshold=float(self.alpha),
            drifted=bool(drifted),
            verdict=hypothesis_verdict(self._feature(), drifted, figures, p_value, self.alpha, sizes),
            details=details,
            feature=self._feature(),
        )

    def _feature(self) -> str:
        return self.name

    def _extra_details(self) -> dict[str, object]:
        return {}


class HiddenStateDrift(MMDDrift):
    """MMD drift of one layer's mean-pooled hidden states (arrays in, never a model).

    Accepts ``[n, d_model]`` vectors (one per record, already mean-pooled over tokens) or
    ``[n, tokens, d_model]`` arrays, which are mean-pooled over the token axis here (pool with
    the attention mask yourself when sequences are padded).

    Extra parameters:
        layer: which layer the states come from (reported in details and the verdict).
        standardize: rescale every dimension to mean 0 and standard deviation 1 over the pooled
            vectors (reference and current together) before the kernel.
    """

    detector = "hidden_state"
    unit = "hidden-state vectors"

    def __init__(
        self,
        *,
        layer: int | str | None = None,
        standardize: bool = True,
        alpha: float = 0.05,
        n_permutations: int = 500,
        max_samples: int | None = 1000,
        bandwidth: float | None = None,
        random_state: int | None = 0,
        name: str = "hidden states",
    ) -> None:
        super().__init__(
            alpha=alpha,
            n_permutations=n_permutations,
            max_samples=max_samples,
            bandwidth=bandwidth,
            random_state=random_state,
            name=name,
        )
        self.layer = layer
        self.standardize = standardize

    def _prepare(self, values: ArrayLike, name: str, fitting: bool) -> np.ndarray:
        array = values
        try:
            ndim = np.ndim(values)
        except (TypeError, ValueError):
            ndim = -1  # ragged or non-numeric: as_matrix explains the problem
        if ndim == 3:
            array = np.asarray(values, dtype=np.float64)
            if array.shape[1] == 0:
                raise DriftInputError(f"{name} has 0 tokens per record (shape {array.shape}); nothing to pool.")
            array = array.mean(axis=1)
        return super()._prepare(array, name, fitting)

    def _pooled(self, z: np.ndarray) -> np.ndarray:
        if not self.standardize:
            return z
        spread = z.std(axis=0)
        floor = max(float(spread.max()) * 1e-6, 1e-12)
        return (z - z.mean(axis=0)) / np.where(spread > floor, spread, 1.0)

    def _feature(self) -> str:
        if self.layer is not None and self.name == "hidden states":
            return f"layer {self.layer} hidden states"
        return self.name

    def _extra_details(self) -> dict[str, object]:
        return {"layer": self.layer, "standardized": bool(self.standardize)}
