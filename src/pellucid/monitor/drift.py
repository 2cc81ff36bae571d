"""Drift detection: is the current window of traffic different from the reference window?

Four kinds of evidence, each a detector that fits like a scikit-learn estimator —
parameters in the constructor, ``fit(reference)`` stores what it learnt in attributes ending
in ``_``, ``test(current)`` returns a :class:`DriftResult`:

================  =====================================  ======================================
name              looks at                               statistic (and how to read it)
================  =====================================  ======================================
``mmd``           prompt/response embeddings             MMD² with an RBF kernel; permutation
                                                         p-value (:mod:`.drift_mmd`)
``classifier``    prompt/response embeddings             held-out ROC AUC of a reference-vs-
                                                         current classifier; 0.5 = no drift
                                                         (:mod:`.drift_classifier`)
``hidden_state``  one layer's mean-pooled hidden states  MMD² on standardised states
``psi``           one scalar per record                  population stability index; 0.1 / 0.25
                                                         rule of thumb (:mod:`.drift_scalar`)
``ks``            one scalar per record                  Kolmogorov–Smirnov D and p-value
================  =====================================  ======================================

A p-value answers "how often would two samples of the *same* distribution differ this much?";
a detector with ``alpha=0.05`` raises a false alarm on about 1 window in 20 where nothing
changed. Running many detectors on many metrics multiplies those chances: read a lone
borderline flag with that in mind, and the statistic (the size of the change) alongside the
p-value — with very large windows, tiny harmless differences become "significant".

:func:`drift_report` runs the usual set at once::

    report = drift_report(ref_embeddings, cur_embeddings,
                          scalars={"latency_ms": (ref_latency, cur_latency)})
    report.drifted, report.verdict, report.to_dict()

Everything here takes plain arrays; nothing imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from numpy.typing import ArrayLike

from pellucid.errors import unknown_name
from pellucid.monitor.drift_base import DriftInputError, DriftResult, NotFittedError
from pellucid.monitor.drift_classifier import ClassifierDrift
from pellucid.monitor.drift_mmd import HiddenStateDrift, MMDDrift, mmd2_unbiased
from pellucid.monitor.drift_scalar import KSDrift, PSIDrift, population_stability_index, psi_level

__all__ = [
    "DETECTORS",
    "EMBEDDING_DETECTORS",
    "SCALAR_DETECTORS",
    "ClassifierDrift",
    "DriftDetector",
    "DriftInputError",
    "DriftReport",
    "DriftResult",
    "HiddenStateDrift",
    "KSDrift",
    "MMDDrift",
    "NotFittedError",
    "PSIDrift",
    "drift_report",
    "make_detector",
    "mmd2_unbiased",
    "population_stability_index",
    "psi_level",
]


class DriftDetector(Protocol):
    """What every detector offers."""

    detector: str

    def fit(self, reference: ArrayLike) -> Self: ...

    def test(self, current: ArrayLike) -> DriftResult: ...


#: Every detector by name.
DETECTORS: dict[str, type[Any]] = {
    "mmd": MMDDrift,
    "classifier": ClassifierDrift,
    "hidden_state": HiddenStateDrift,
    "psi": PSIDrift,
    "ks": KSDrift,
}
#: Detectors that take vectors (one per record).
EMBEDDING_DETECTORS = ("mmd", "classifier")
#: Detectors that take one number per record.
SCALAR_DETECTORS = ("psi", "ks")


def make_detector(kind: str, /, **params: Any) -> DriftDetector:
    """Build a detector by registry name, e.g. ``make_detector("psi", n_bins=20, name="latency_ms")``."""
    if kind not in DETECTORS:
        raise unknown_name("drift detector", kind, DETECTORS)
    try:
        detector: DriftDetector = DETECTORS[kind](**params)
    except TypeError as exc:
        raise DriftInputError(f"Bad parameters for drift detector {kind!r}: {exc}.") from exc
    return detector


@dataclass(frozen=True)
class DriftReport:
    """The results of several detectors over one reference/current pair of windows."""

    results: tuple[DriftResult, ...]
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        """True when any detector flagged drift."""
        return any(r.drifted for r in self.results)

    @property
    def flagged(self) -> tuple[DriftResult, ...]:
        """The results that flagged drift."""
        return tuple(r for r in self.results if r.drifted)

    @property
    def verdict(self) -> str:
        """One summary sentence; each result's own verdict has the figures."""
        if not self.results:
            return "No drift checks were run."
        if not self.drifted:
            return f"No drift detected: all {len(self.results)} checks passed."
        names = ", ".join(f"{r.feature} ({r.detector})" for r in self.flagged)
        return f"Drift detected by {len(self.flagged)} of {len(self.results)} checks: {names}."

    def result(self, feature: str, detector: str) -> DriftResult:
        """The result of one detector on one feature."""
        for r in self.results:
            if r.feature == feature and r.detector == detector:
                return r
        valid = [f"{r.feature}/{r.detector}" for r in self.results]
        raise unknown_name("drift result", f"{feature}/{detector}", valid)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {
            "drifted": self.drifted,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "params": dict(self.params),
            "results": [r.to_dict() for r in self.results],
        }


def _check_names(names: Sequence[str], allowed: Sequence[str], kind: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise unknown_name(kind, name, allowed)
    return tuple(names)


def _pair(value: object, name: str) -> tuple[ArrayLike, ArrayLike]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise DriftInputError(
            f"{name} must be a (reference, current) pair of arrays; got {type(value).__name__}. "
            f"Pass {{{name!r}: (reference_values, current_values)}}."
        )
    return value[0], value[1]


def drift_report(
    reference: ArrayLike | None = None,
    current: ArrayLike | None = None,
    *,
    embeddings: Sequence[str] = EMBEDDING_DETECTORS,
    scalars: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
    scalar_detectors: Sequence[str] = SCALAR_DETECTORS,
    hidden_states: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
    alpha: float = 0.05,
    n_permutations: int = 500,
    random_state: int | None = 0,
    name: str = "embeddings",
) -> DriftReport:
    """Run the embedding, scalar and hidden-state detectors on a pair of windows.

    Args:
        reference, current: embedding matrices ``[n, dim]`` (one vector per record), or
            ``None`` to skip embedding drift.
        embeddings: embedding detectors to run (``"mmd"``, ``"classifier"``); ``()`` for none.
        scalars: ``{metric name: (reference values, current values)}``, each tested with
            ``scalar_detectors`` (PSI and KS by default).
        hidden_states: ``{label: (reference states, current states)}`` for
            :class:`HiddenStateDrift`, e.g. ``{"layer 12": (ref, cur)}``.
        alpha, n_permutations, random_state: shared by the detectors that use them.
        name: what the embeddings represent, used in the verdicts.
    """
    started = time.perf_counter()
    embedding_names = _check_names(embeddings, EMBEDDING_DETECTORS, "embedding drift detector")
    scalar_names = _check_names(scalar_detectors, SCALAR_DETECTORS, "scalar drift detector")
    if (reference is None) != (current is None):
        raise DriftInputError("Give both reference and current embeddings, or neither (to test scalars only).")
    if reference is None and not scalars and not hidden_states:
        raise DriftInputError("Nothing to compare: pass reference and current embeddings, scalars= or hidden_states=.")
    seeded: dict[str, Any] = {"alpha": alpha, "random_state": random_state}
    results: list[DriftResult] = []
    if reference is not None and current is not None:
        for detector_name in embedding_names:
            extra: dict[str, Any] = {"n_permutations": n_permutations} if detector_name == "mmd" else {}
            detector = make_detector(detector_name, name=name, **seeded, **extra)
            results.append(detector.fit(reference).test(current))
    for label, value in (hidden_states or {}).items():
        ref, cur = _pair(value, label)
        states = HiddenStateDrift(layer=label, name=f"{label} hidden states", n_permutations=n_permutations, **seeded)
        results.append(states.fit(ref).test(cur))
    for metric, value in (scalars or {}).items():
        ref, cur = _pair(value, metric)
        for detector_name in scalar_names:
            results.append(make_detector(detector_name, name=metric, alpha=alpha).fit(ref).test(cur))
    params = {"alpha": alpha, "n_permutations": n_permutations, "random_state": random_state}
    return DriftReport(results=tuple(results), seconds=time.perf_counter() - started, params=params)
