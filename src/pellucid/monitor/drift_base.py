"""The result every drift detector returns, and the input checks they share.

A drift detector compares a *reference* window (the traffic you trust: last month, the
previous model version, the evaluation set) with a *current* window and answers two
questions: how different are they (``statistic``), and is that difference larger than
chance alone would produce between two samples of the same distribution (``p_value``,
compared with ``alpha``) or larger than a conventional magnitude (``threshold``)?

:class:`DriftResult` is plain data: the numbers, a ``drifted`` flag, a sentence a person can
read (``verdict``) and ``details`` with everything needed to reproduce the figure (sample
sizes, subsampling, bandwidth, bins...). ``to_dict()`` gives its JSON form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pellucid.errors import InvalidInputError


class DriftInputError(InvalidInputError):
    """Reference or current data a drift detector cannot use (empty, NaN, wrong shape...)."""


class NotFittedError(InvalidInputError):
    """``test()`` was called on a detector before ``fit(reference)``."""


def _json_value(value: Any) -> Any:
    """Numpy scalars and arrays to plain Python; non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist())
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class DriftResult:
    """One detector's answer for one feature.

    Attributes:
        detector: registry name of the detector (``"mmd"``, ``"classifier"``, ``"psi"``...).
        statistic: the distance or score (MMD², ROC AUC, PSI, KS D).
        p_value: probability of a statistic at least this large without drift; ``None``
            when the detector has none.
        threshold: what the decision compares with (``alpha`` for tests, the PSI cut-off).
        drifted: the decision.
        verdict: one plain-language sentence with the figures behind the decision.
        details: sample sizes, subsampling, bandwidth, bins and other provenance.
        feature: what was compared (``"prompt embeddings"``, ``"latency_ms"``...).
    """

    detector: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    verdict: str
    details: dict[str, Any] = field(default_factory=dict)
    feature: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (numpy values converted, NaN written as ``null``)."""
        return {
            "detector": self.detector,
            "feature": self.feature,
            "statistic": _json_value(float(self.statistic)),
            "p_value": None if self.p_value is None else _json_value(float(self.p_value)),
            "threshold": _json_value(float(self.threshold)),
            "drifted": bool(self.drifted),
            "verdict": self.verdict,
            "details": _json_value(self.details),
        }


# -- input checks ---------------------------------------------------------------------------


def as_matrix(values: ArrayLike, name: str, *, dim: int | None = None) -> np.ndarray:
    """Check and convert ``values`` to a finite float array of shape ``[n, dim]``.

    A 1-D array is read as ``n`` one-dimensional points.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DriftInputError(f"{name} must be numeric vectors; got {type(values).__name__} ({exc}).") from exc
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DriftInputError(
            f"{name} must be a 2-D array [n_samples, n_features]; got shape {array.shape}. "
            "Stack one vector per record (mean-pool token states first)."
        )
    if array.shape[0] == 0:
        raise DriftInputError(f"{name} is empty (shape {array.shape}); select a window that contains records.")
    if array.shape[1] == 0:
        raise DriftInputError(f"{name} has vectors of length 0 (shape {array.shape}).")
    _check_finite(array, name)
    if dim is not None and array.shape[1] != dim:
        raise DriftInputError(
            f"{name} has {array.shape[1]} features but the reference has {dim}; compare vectors from the "
            "same embedding model (or the same layer of the same model)."
        )
    return array


def as_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Check and convert ``values`` to a finite, non-empty 1-D float array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DriftInputError(f"{name} must be numbers; got {type(values).__name__} ({exc}).") from exc
    if array.ndim == 2 and 1 in array.shape:
        array = array.ravel()
    if array.ndim != 1:
        raise DriftInputError(f"{name} must be a 1-D array of numbers; got shape {array.shape}.")
    if array.size == 0:
        raise DriftInputError(f"{name} is empty; select a window that contains records.")
    _check_finite(array, name)
    return array


def _check_finite(array: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 or array.ndim == 1 else first
        raise DriftInputError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at index {where}: "
            f"{array[first]}); drop or impute those records before testing for drift."
        )


def check_min_samples(n: int, minimum: int, name: str) -> None:
    """Refuse samples too small for the detector to say anything."""
    if n < minimum:
        raise DriftInputError(f"{name} has {n} sample(s); this detector needs at least {minimum}.")


def check_fraction(value: float, name: str) -> float:
    """Validate a probability-like parameter in (0, 1)."""
    if not 0.0 < float(value) < 1.0:
        raise DriftInputError(f"{name} must be between 0 and 1 (exclusive); got {value!r}. A usual choice is 0.05.")
    return float(value)


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    """Validate an integer parameter such as ``n_permutations`` or ``max_samples``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DriftInputError(f"{name} must be an integer ≥ {minimum}; got {value!r}.")
    return int(value)


def subsample(array: np.ndarray, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """A uniform random subset of at most ``max_samples`` rows (all rows if ``None``)."""
    if max_samples is None or array.shape[0] <= max_samples:
        return array
    index = rng.choice(array.shape[0], size=max_samples, replace=False)
    return array[np.sort(index)]


def require_fitted(detector: object, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``fit`` set ``attribute``."""
    if not hasattr(detector, attribute):
        name = type(detector).__name__
        raise NotFittedError(f"This {name} is not fitted yet; call {name}(...).fit(reference) before test(current).")


# -- wording --------------------------------------------------------------------------------


def format_p(p_value: float) -> str:
    """``p=0.002``, ``p=0.41``, or ``p<0.001``."""
    if p_value < 0.001:
        return "p<0.001"
    return f"p={p_value:.2g}"


def format_stat(value: float) -> str:
    """Short, readable number: three significant digits, no exponent for ordinary sizes."""
    if value == 0:
        return "0"
    if 1e-4 <= abs(value) < 1e4:
        return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.2e}"
    return f"{value:.2e}"


def sizes_phrase(n_ref: int, n_cur: int, unit: str, note: str = "") -> str:
    """``over 1,000 vs 1,000 embeddings`` plus an optional note in parentheses."""
    text = f"over {n_ref:,} vs {n_cur:,} {unit}"
    return f"{text} ({note})" if note else text


def hypothesis_verdict(feature: str, drifted: bool, figures: str, p_value: float, alpha: float, sizes: str) -> str:
    """The sentence for a hypothesis test, e.g. ``The prompts drifted: MMD²=0.031, p=0.002 < 0.05 ...``."""
    subject = feature or "data"
    if drifted:
        return f"The {subject} drifted: {figures}, {format_p(p_value)} < {alpha:g} {sizes}."
    return f"No drift detected in the {subject}: {figures}, {format_p(p_value)} ≥ {alpha:g} {sizes}."
