"""Embedding drift by a domain classifier: can a model tell the two windows apart?

The idea. Label every reference vector 0 and every current vector 1, and train a
logistic regression to predict the label from the vector. If the windows come from the same
distribution, no classifier can do better than a coin: its ROC AUC on vectors it did not
train on is about 0.5. An AUC clearly above 0.5 means the current traffic has something the
reference does not, and the classifier's weights point at what it is.

How it is computed. A stratified random ``test_size`` share of each window is held out; a
standardised logistic regression is trained on the rest and scores the held-out vectors.
The ROC AUC of those scores is the statistic.

How to read the p-value. An AUC is a Mann–Whitney U statistic in disguise
(``AUC = U / (n₀·n₁)``): the probability that a random held-out current vector scores higher
than a random held-out reference vector. Without drift the held-out scores do not depend on
the labels at all (the model never saw those vectors), so the one-sided
``scipy.stats.mannwhitneyu`` p-value is valid as it stands. Drift is declared when
``p < alpha``.

Why one held-out split and not k-fold cross-validation: pooling k folds' held-out scores
reuses every label both to train and to test, which makes the folds' AUCs positively
correlated; the usual Mann–Whitney p-value then raises about twice as many false alarms as
``alpha`` promises. A single split keeps the p-value honest at the price of training on less
data.

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
    z: np.ndarray, labels: np.ndarray, *, test_size: float, c: float, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Train a standardised logistic regression on a stratified split; score the held-out rows.

    Returns ``(scores, held_out_labels)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z_train, z_test, y_train, y_test = train_test_split(
        z, labels, test_size=test_size, stratify=labels, random_state=random_state
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    model.fit(z_train, y_train)
    return np.asarray(model.decision_function(z_test), dtype=np.float64), np.asarray(y_test)


def auc_test(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """ROC AUC of ``scores`` for ``labels`` (1 = current) and its one-sided Mann–Whitney p-value."""
    from scipy.stats import mannwhitneyu

    current, reference = scores[labels == 1], scores[labels == 0]
    result = mannwhitneyu(current, reference, alternative="greater")
    auc = float(result.statistic) / (current.size * reference.size)
    return auc, float(result.pvalue)


class ClassifierDrift:
    """Domain-classifier drift test: held-out ROC AUC of a reference-vs-current classifier.

    Parameters:
        alpha: significance level; drift when the p-value is below it.
        test_size: share of each window held out for scoring (the rest trains the model).
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
        test_size: float = 0.5,
        max_samples: int | None = 2000,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name for it
        random_state: int | None = 0,
        name: str = "embeddings",
    ) -> None:
        self.alpha = alpha
        self.test_size = test_size
        self.max_samples = max_samples
        self.C = C
        self.random_state = random_state
        self.name = name

    def _check_params(self) -> None:
        check_fraction(self.alpha, "alpha")
        check_fraction(self.test_size, "test_size")
        if self.max_samples is not None:
            check_positive_int(self.max_samples, "max_samples", minimum=2)

    def fit(self, reference: ArrayLike) -> Self:
        """Validate and store (a subsample of) the reference vectors."""
        self._check_params()
        x = as_matrix(reference, "reference")
        check_min_samples(x.shape[0], 4, "reference")
        self.n_reference_ = int(x.shape[0])
        self.n_features_in_ = int(x.shape[1])
        self.reference_ = subsample(x, self.max_samples, make_rng(self.random_state, 0))
        return self

    def test(self, current: ArrayLike) -> DriftResult:
        """Train on part of reference + current, score the held-out vectors, test their AUC."""
        require_fitted(self, "reference_")
        self._check_params()
        y_all = as_matrix(current, "current", dim=self.n_features_in_)
        check_min_samples(y_all.shape[0], 4, "current")
        y = subsample(y_all, self.max_samples, make_rng(self.random_state, 1))
        x = self.reference_
        z = np.vstack([x, y])
        labels = np.r_[np.zeros(x.shape[0], dtype=int), np.ones(y.shape[0], dtype=int)]
        seed = None if self.random_state is None else int(self.random_state)
        scores, held_out = held_out_scores(z, labels, test_size=self.test_size, c=self.C, random_state=seed)
        auc, p_value = auc_test(scores, held_out)
        n_test_ref, n_test_cur = int((held_out == 0).sum()), int((held_out == 1).sum())
        drifted = p_value < self.alpha
        subsampled = x.shape[0] < self.n_reference_ or y.shape[0] < y_all.shape[0]
        note = f"random subsamples of {self.n_reference_:,} vs {y_all.shape[0]:,}" if subsampled else ""
        sizes = sizes_phrase(n_test_ref, n_test_cur, f"held-out {self.unit}", note)
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
            "test_size": float(self.test_size),
            "n_reference_held_out": n_test_ref,
            "n_current_held_out": n_test_cur,
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
