"""Embedding drift by a domain classifier: can a model tell the two windows apart?

The idea. Label every reference vector 0 and every current vector 1, and train a
logistic regression to predict the label from the vector. If the windows come from the same
distribution, no classifier can do better than a coin: its ROC AUC on data it did not train
on is about 0.5. An AUC clearly above 0.5 means the current traffic has something the
reference does not — and the classifier's weights point at what it is.

How it is computed. Stratified k-fold cross-validation (``cv`` folds): every vector is scored
by a model trained on the other folds, so the AUC is measured on held-out data only. Features
are standardised (fitted inside each fold) before the regression.

How to read the p-value. An AUC is a Mann–Whitney U statistic in disguise
(``AUC = U / (n₀·n₁)``): the probability that a random current vector scores higher than a
random reference vector. Under "no drift" the held-out scores do not depend on the label,
so ``scipy.stats.mannwhitneyu`` (one-sided, "current scores higher") gives the p-value — an
approximation, because scores from different folds come from different models; in practice
the test is slightly conservative. Drift is declared when ``p < alpha``.

Reading the AUC as an effect size: 0.5 indistinguishable, 0.6 a weak but real difference,
0.8 and above a different population of prompts.

Each window is reduced to at most ``max_samples`` random vectors (2,000 by default) to keep
the cost bounded; ``details`` says when that happened.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from pellucid.monitor.drift_base import (
    DriftResult,
    as_matrix,
    check_fraction,
    check_min_samples,
    check_positive_int,
    hypothesis_verdict,
    require_fitted,
    sizes_phrase,
    subsample,
)
from pellucid.monitor.drift_mmd import make_rng


def held_out_scores(
    z: np.ndarray, labels: np.ndarray, *, folds: int, c: float, random_state: int | None
) -> np.ndarray:
    """Cross-validated decision scores of a standardised logistic regression (one per row)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    scores = cross_val_predict(model, z, labels, cv=splitter, method="decision_function")
    return np.asarray(scores, dtype=np.float64)


def auc_test(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """ROC AUC of ``scores`` for ``labels`` (1 = current) and its one-sided Mann–Whitney p-value."""
    from scipy.stats import mannwhitneyu

    current, reference = scores[labels == 1], scores[labels == 0]
    result = mannwhitneyu(current, reference, alternative="greater")
    auc = float(result.statistic) / (current.size * reference.size)
    return auc, float(result.pvalue)


class ClassifierDrift:
    """Domain-classifier drift test: cross-validated ROC AUC of reference-vs-current.

    Parameters:
        alpha: significance level; drift when the p-value is below it.
        cv: number of cross-validation folds (reduced when a window is smaller).
        max_samples: each window is reduced to at most this many random vectors (``None``: all).
        C: inverse regularisation strength of the logistic regression.
        random_state: seed for subsampling and fold assignment.
        name: what the vectors represent, used in the verdict.

    Fitted attributes: ``reference_``, ``n_reference_``, ``n_features_in_``.
    """

    detector = "classifier"
    unit = "embeddings"

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        cv: int = 5,
        max_samples: int | None = 2000,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name for it
        random_state: int | None = 0,
        name: str = "embeddings",
    ) -> None:
        self.alpha = alpha
        self.cv = cv
        self.max_samples = max_samples
        self.C = C
        self.random_state = random_state
        self.name = name

    def _check_params(self) -> None:
        check_fraction(self.alpha, "alpha")
        check_positive_int(self.cv, "cv", minimum=2)
        if self.max_samples is not None:
            check_positive_int(self.max_samples, "max_samples", minimum=2)

    def fit(self, reference: ArrayLike) -> Self:
        """Validate and store (a subsample of) the reference vectors."""
        self._check_params()
        x = as_matrix(reference, "reference")
        check_min_samples(x.shape[0], 2, "reference")
        self.n_reference_ = int(x.shape[0])
        self.n_features_in_ = int(x.shape[1])
        self.reference_ = subsample(x, self.max_samples, make_rng(self.random_state, 0))
        return self

    def test(self, current: ArrayLike) -> DriftResult:
        """Train on folds of reference + current, score held-out vectors, test the AUC."""
        require_fitted(self, "reference_")
        self._check_params()
        y_all = as_matrix(current, "current", dim=self.n_features_in_)
        check_min_samples(y_all.shape[0], 2, "current")
        y = subsample(y_all, self.max_samples, make_rng(self.random_state, 1))
        x = self.reference_
        z = np.vstack([x, y])
        labels = np.r_[np.zeros(x.shape[0], dtype=int), np.ones(y.shape[0], dtype=int)]
        folds = min(self.cv, x.shape[0], y.shape[0])
        scores = held_out_scores(z, labels, folds=folds, c=self.C, random_state=self.random_state)
        auc, p_value = auc_test(scores, labels)
        drifted = p_value < self.alpha
        subsampled = x.shape[0] < self.n_reference_ or y.shape[0] < y_all.shape[0]
        note = f"random subsamples of {self.n_reference_:,} vs {y_all.shape[0]:,}" if subsampled else ""
        sizes = sizes_phrase(x.shape[0], y.shape[0], self.unit, note)
        figures = f"a classifier separates current from reference with held-out ROC AUC={auc:.3f} (0.5 = chance)"
        details = {
            "n_reference": self.n_reference_,
            "n_current": int(y_all.shape[0]),
            "n_reference_used": int(x.shape[0]),
            "n_current_used": int(y.shape[0]),
            "subsampled": subsampled,
            "max_samples": self.max_samples,
            "n_features": self.n_features_in_,
            "model": "standardised logistic regression",
            "C": float(self.C),
            "folds": folds,
            "p_value_method": "one-sided Mann-Whitney U on held-out scores",
            "random_state": self.random_state,
        }
        return DriftResult(
            detector=self.detector,
            statistic=auc,
            p_value=p_value,
            threshold=float(self.alpha),
            drifted=bool(drifted),
            verdict=hypothesis_verdict(self.name, drifted, figures, p_value, self.alpha, sizes),
            details=details,
            feature=self.name,
        )
