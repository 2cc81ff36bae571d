"""Drift of one scalar per record: prompt length, latency, perplexity, entropy, toxicity.

**Population stability index (PSI).** Cut the reference into ``n_bins`` bins holding equal
shares of it (its deciles by default), count what share of the current window falls in each
bin, and add up, over bins, ``(current% − reference%) · ln(current% / reference%)``. Every
term is ≥ 0; the sum is 0 when every bin keeps its share and grows as mass moves between
bins. It is a symmetric Kullback–Leibler divergence between the two binned distributions.
The industry's rule of thumb (credit scoring, where PSI comes from):

- PSI < 0.1: no significant change;
- 0.1 ≤ PSI < 0.25: a moderate shift, worth a look;
- PSI ≥ 0.25: a significant shift.

A reference with few distinct values (a rating, a flag, a constant) has no useful deciles; it
is binned by value instead — one bin per value it took and one per gap between them — so a
value the reference never took is counted in a bin of its own rather than merged away.

PSI is a magnitude, not a test, and on small windows noise alone inflates it: with ``B``
bins, ``m`` reference and ``n`` current values, it averages about ``(B−1)(1/m+1/n)`` when
nothing changed (0.18 for 10 bins and 100 vs 100 values), and a bin left empty by chance
adds a large term (bins empty on one side are given a share of ``eps``, 10⁻⁴, so the
logarithm stays finite). So the detector also runs Pearson's chi-square test of homogeneity
(``scipy.stats.chi2_contingency``) on the same bin counts and declares drift only when the PSI
reaches ``threshold`` *and* that test gives ``p < alpha`` — a change big enough to matter and
too big to be sampling noise.

**Kolmogorov–Smirnov (KS).** Draw both empirical cumulative distribution functions; ``D`` is
the largest vertical gap between them (0: identical, 1: no overlap at all), and
``statistic_location`` is where that gap is. ``scipy.stats.ks_2samp`` gives the p-value
(exact for small samples, asymptotic for large). KS needs no bins and reacts most to
changes near the middle of the distribution; PSI with quantile bins weighs the whole range
evenly. On huge windows KS flags even tiny differences — read ``D`` as the size.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from pellucid.monitor.drift_base import (
    DriftInputError,
    DriftResult,
    as_vector,
    check_fraction,
    check_positive_int,
    format_p,
    format_stat,
    hypothesis_verdict,
    require_fitted,
    sizes_phrase,
)

#: PSI levels (rule of thumb): below the first no change, between them moderate, above significant.
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25


def psi_level(psi: float) -> str:
    """``"none"``, ``"moderate"`` or ``"significant"`` by the 0.1 / 0.25 rule of thumb."""
    if psi >= PSI_SIGNIFICANT:
        return "significant"
    return "moderate" if psi >= PSI_MODERATE else "none"


def quantile_cuts(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior cut points splitting ``reference`` into ``n_bins`` equal shares (ties merged)."""
    cuts = np.quantile(reference, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return np.unique(cuts)


def bin_index(values: np.ndarray, cuts: np.ndarray, by_value: bool = False) -> np.ndarray:
    """Bin of each value.

    Quantile bins: ``k`` for ``cuts[k-1] ≤ value < cuts[k]`` (``cuts.size + 1`` bins, the outer
    ones open-ended). By value (few distinct reference values): ``2k + 1`` for
    ``value == cuts[k]``, ``2k`` for values strictly between ``cuts[k-1]`` and ``cuts[k]``
    (``2 · cuts.size + 1`` bins), so a value the reference never took gets a bin of its own.
    """
    right = np.searchsorted(cuts, values, side="right")
    return right + np.searchsorted(cuts, values, side="left") if by_value else right


def bin_shares(values: np.ndarray, cuts: np.ndarray, by_value: bool = False) -> np.ndarray:
    """Share of ``values`` in each bin of :func:`bin_index`."""
    n_bins = 2 * cuts.size + 1 if by_value else cuts.size + 1
    return np.bincount(bin_index(values, cuts, by_value), minlength=n_bins) / values.size


def population_stability_index(reference_shares: ArrayLike, current_shares: ArrayLike, eps: float = 1e-4) -> float:
    """``Σ (c − r) · ln(c / r)`` over bins, with empty shares raised to ``eps``."""
    r = np.maximum(np.asarray(reference_shares, dtype=np.float64), eps)
    c = np.maximum(np.asarray(current_shares, dtype=np.float64), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def homogeneity_p_value(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Pearson chi-square p-value that both rows of bin counts come from one distribution."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0  # everything in one bin: no evidence of a difference
    return float(chi2_contingency(table, correction=False).pvalue)


class PSIDrift:
    """Population stability index over quantile bins of the reference.

    Parameters:
        n_bins: number of quantile bins (deciles by default); fewer when the reference has ties.
            A reference with at most ``n_bins`` distinct values (counts, ratings, a constant) is
            binned by value instead: one bin per value seen, one per gap between them.
        threshold: PSI at or above which a (significant) change counts as drift (0.1 or 0.25).
        alpha: significance level of the chi-square check that the change is not sampling noise.
        eps: share given to bins left empty on one side.
        name: the metric's name, used in the verdict.

    Fitted attributes: ``cuts_`` (interior bin edges, or the distinct values), ``by_value_``,
    ``reference_shares_``,
    ``reference_counts_``, ``n_reference_``.
    """

    detector = "psi"

    def __init__(
        self,
        *,
        n_bins: int = 10,
        threshold: float = PSI_MODERATE,
        alpha: float = 0.05,
        eps: float = 1e-4,
        name: str = "values",
    ) -> None:
        self.n_bins = n_bins
        self.threshold = threshold
        self.alpha = alpha
        self.eps = eps
        self.name = name

    def _check_params(self) -> None:
        check_positive_int(self.n_bins, "n_bins", minimum=2)
        check_fraction(self.alpha, "alpha")
        if not float(self.threshold) > 0:
            raise DriftInputError(f"threshold must be > 0; got {self.threshold!r}. Use 0.1 (moderate) or 0.25.")
        if not 0 < float(self.eps) < 1:
            raise DriftInputError(f"eps must be between 0 and 1; got {self.eps!r}.")

    def fit(self, reference: ArrayLike) -> Self:
        """Place the bin edges at the reference's quantiles and record its shares."""
        self._check_params()
        x = as_vector(reference, "reference")
        self.n_reference_ = int(x.size)
        distinct = np.unique(x)
        self.by_value_ = bool(distinct.size <= self.n_bins)
        self.cuts_ = distinct if self.by_value_ else quantile_cuts(x, self.n_bins)
        self.reference_shares_ = bin_shares(x, self.cuts_, self.by_value_)
        self.reference_counts_ = np.rint(self.reference_shares_ * x.size)
        return self

    def test(self, current: ArrayLike) -> DriftResult:
        """PSI of the current window against the fitted bins, with its noise check."""
        require_fitted(self, "cuts_")
        self._check_params()
        y = as_vector(current, "current")
        shares = bin_shares(y, self.cuts_, self.by_value_)
        occupied = int(np.count_nonzero(self.reference_shares_))
        psi = population_stability_index(self.reference_shares_, shares, self.eps)
        p_value = homogeneity_p_value(self.reference_counts_, np.rint(shares * y.size))
        drifted = psi >= self.threshold and p_value < self.alpha
        details = {
            "n_reference": self.n_reference_,
            "n_current": int(y.size),
            "binning": "by value" if self.by_value_ else "reference quantiles",
            "n_bins": int(shares.size),
            "bin_edges": self.cuts_.tolist(),
            "reference_shares": self.reference_shares_.tolist(),
            "current_shares": shares.tolist(),
            "level": psi_level(psi),
            "expected_psi_without_drift": (occupied - 1) * (1.0 / self.n_reference_ + 1.0 / y.size),
            "alpha": float(self.alpha),
            "p_value_method": "Pearson chi-square test of homogeneity on the bin counts",
        }
        return DriftResult(
            detector=self.detector,
            statistic=psi,
            p_value=p_value,
            threshold=float(self.threshold),
            drifted=bool(drifted),
            verdict=self._verdict(psi, p_value, drifted, y.size),
            details=details,
            feature=self.name,
        )

    def _verdict(self, psi: float, p_value: float, drifted: bool, n_current: int) -> str:
        meaning = {
            "none": "no significant change",
            "moderate": "a moderate shift",
            "significant": "a significant shift",
        }[psi_level(psi)]
        sizes = sizes_phrase(self.n_reference_, n_current, "values")
        stat, p = format_stat(psi), format_p(p_value)
        if drifted:
            return f"The {self.name} drifted: PSI={stat} ({meaning}), {p} < {self.alpha:g} {sizes}."
        if psi >= self.threshold:
            return (
                f"No drift detected in the {self.name}: PSI={stat} reaches {self.threshold:g}, but {p} ≥ "
                f"{self.alpha:g}: with {self.n_reference_:,} vs {n_current:,} values that is within sampling noise."
            )
        below = f"is below the {self.threshold:g} threshold ({meaning}; {p})"
        return f"No drift detected in the {self.name}: PSI={stat} {below} {sizes}."


class KSDrift:
    """Two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``) for one scalar metric.

    Parameters:
        alpha: significance level; drift when the p-value is below it.
        method: scipy's ``method`` (``"auto"``, ``"exact"`` or ``"asymp"``).
        name: the metric's name, used in the verdict.

    Fitted attributes: ``reference_`` (sorted values), ``n_reference_``.
    """

    detector = "ks"

    def __init__(self, *, alpha: float = 0.05, method: str = "auto", name: str = "values") -> None:
        self.alpha = alpha
        self.method = method
        self.name = name

    def _check_params(self) -> None:
        check_fraction(self.alpha, "alpha")
        if self.method not in ("auto", "exact", "asymp"):
            raise DriftInputError(f"method must be 'auto', 'exact' or 'asymp'; got {self.method!r}.")

    def fit(self, reference: ArrayLike) -> Self:
        """Validate and store the reference values."""
        self._check_params()
        x = as_vector(reference, "reference")
        self.reference_ = np.sort(x)
        self.n_reference_ = int(x.size)
        return self

    def test(self, current: ArrayLike) -> DriftResult:
        """KS distance between the empirical CDFs and its p-value."""
        from scipy.stats import ks_2samp

        require_fitted(self, "reference_")
        self._check_params()
        y = as_vector(current, "current")
        result = ks_2samp(self.reference_, y, alternative="two-sided", method=self.method)
        statistic, p_value = float(result.statistic), float(result.pvalue)
        drifted = p_value < self.alpha
        location = float(result.statistic_location)
        # statistic_sign is +1 when the reference's CDF is above the current's: current values are larger there
        direction = "larger" if int(result.statistic_sign) > 0 else "smaller"
        figures = f"KS D={format_stat(statistic)} (largest CDF gap, at {format_stat(location)})"
        sizes = sizes_phrase(self.n_reference_, y.size, "values")
        details = {
            "n_reference": self.n_reference_,
            "n_current": int(y.size),
            "statistic_location": location,
            "current_values_at_gap": direction,
            "method": self.method,
            "reference_median": float(np.median(self.reference_)),
            "current_median": float(np.median(y)),
        }
        return DriftResult(
            detector=self.detector,
            statistic=statistic,
            p_value=p_value,
            threshold=float(self.alpha),
            drifted=bool(drifted),
            verdict=hypothesis_verdict(self.name, drifted, figures, p_value, self.alpha, sizes),
            details=details,
            feature=self.name,
        )
