"""Linear probes: which layers make a property linearly readable?

A probe is a logistic regression trained to predict a label (a word's part of speech, a
sentence's sentiment) from a layer's representation; cross-validated accuracy by layer
shows where the information is linearly available (Alain & Bengio 2016, "Understanding
intermediate layers using linear classifier probes"; Belinkov 2022, "Probing Classifiers").

High accuracy alone does not prove the *representation* encodes the property: a probe can
memorise. Hewitt & Liang 2019 ("Designing and Interpreting Probes with Control Tasks") pair
each task with a **control task** that assigns every word *type* a random label (drawn from
the task's label distribution, seeded) and report **selectivity** = task accuracy − control
accuracy. By default, folds here are split by word type (``split="type"``), so a probe is
always tested on words it has not seen: a control task then scores at chance (it has
nothing to generalise from) while a real property still generalises. ``split="random"`` is
Hewitt & Liang's original setting, where control accuracy measures memorisation.

Token-level data (``.conllu``) gives one example per word: the mean of its tokens'
activations (words are matched to tokens by character offsets). Sentence-level data (SST-2,
any CSV/JSONL with text and label columns) gives one example per text: the mean over its
tokens (``pooling="last"`` takes the last token instead).

:class:`LinearProbe` follows the scikit-learn estimator API (``fit``, ``predict``,
``score``, fitted attributes end in ``_``) and saves to ``.npz`` (no pickle), so a probe
trained here can later score new activations — as a monitor, or as a steering direction.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect.data import LabelledData, load_labelled
from pellucid.inspect.features import collect_features
from pellucid.types import Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM


def check_classes(y: Sequence[Any], what: str = "The data set") -> None:
    """Raise a clear error unless ``y`` has at least two classes."""
    counts = Counter(y)
    if len(counts) < 2:
        only = str(next(iter(counts), None))
        raise InvalidInputError(
            f"{what} has a single class ({only!r}, {len(y)} examples); a probe needs at least two classes. "
            "Use a data set (or a larger sample of it) that contains several labels."
        )


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Logistic regression on (optionally standardised) activations.

    Parameters are set in ``__init__`` and only stored; ``fit`` learns ``coef_``,
    ``intercept_``, ``classes_``, ``mean_``, ``scale_`` and ``n_features_in_``.
    """

    def __init__(self, C: float = 0.1, max_iter: int = 100, standardize: bool = True, random_state: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Sequence[Any]) -> LinearProbe:
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y)
        check_classes(list(labels), "The training set")
        self.mean_ = X.mean(0) if self.standardize else np.zeros(X.shape[1])
        scale = X.std(0) if self.standardize else np.ones(X.shape[1])
        self.scale_ = np.where(scale > 1e-8, scale, 1.0)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit((X - self.mean_) / self.scale_, labels)
        self.coef_, self.intercept_, self.classes_ = model.coef_, model.intercept_, model.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise InvalidInputError("This probe is not fitted yet; call fit(X, y) or LinearProbe.load(path) first.")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"The probe expects activations of shape [n, {self.n_features_in_}], got {list(X.shape)}."
            )
        return X

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = self._check_fitted(X)
        scores = ((X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-scores))
            return np.stack([1 - p, p], axis=1)
        scores = scores - scores.max(1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        best = self.predict_proba(X).argmax(1)
        return self.classes_[best]

    def direction(self, label: Any = None) -> np.ndarray:
        """Unit vector in activation space along which the probe's score for ``label`` grows.

        For a binary probe the default is the second class (e.g. ``"1"`` = positive).
        """
        self._check_fitted(np.zeros((1, getattr(self, "n_features_in_", 0))))
        classes = [str(k) for k in self.classes_]
        label = classes[-1] if label is None else str(label)
        if label not in classes:
            raise InvalidInputError(f"Unknown probe class {label!r}; classes: {classes}.")
        if len(classes) == 2:
            w = self.coef_[0] * (1 if label == classes[1] else -1)
        else:
            w = self.coef_[classes.index(label)]
        w = w / self.scale_
        return w / np.linalg.norm(w)

    def save(self, path: str | Path, **info: Any) -> Path:
        """Write the fitted probe to ``.npz`` (plain arrays and JSON, no pickle)."""
        self._check_fitted(np.zeros((1, getattr(self, "n_features_in_", 0))))
        path = Path(path)
        np.savez(
            path,
            coef=self.coef_,
            intercept=self.intercept_,
            classes=np.array([str(k) for k in self.classes_]),
            mean=self.mean_,
            scale=self.scale_,
            params=json.dumps(self.get_params()),
            info=json.dumps(info),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> LinearProbe:
        """Read a probe written by :meth:`save`; ``probe.info_`` holds what was saved with it."""
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"Probe file {str(path)!r} does not exist.")
        with np.load(path, allow_pickle=False) as data:
            probe = cls(**json.loads(str(data["params"])))
            probe.coef_, probe.intercept_ = data["coef"], data["intercept"]
            probe.classes_, probe.mean_, probe.scale_ = data["classes"], data["mean"], data["scale"]
            probe.info_ = json.loads(str(data["info"]))
        probe.n_features_in_ = probe.coef_.shape[1]
        return probe


def control_labels(data: LabelledData, seed: int = 0) -> list[str]:
    """Hewitt & Liang control task: one random label per word type (per distinct text for sentences).

    Labels are drawn from the task's empirical label distribution with a seeded generator.
    """
    flat = data.flat_labels()
    keys = [w.lower() for item in data.words for w in item] if data.level == "token" else list(data.texts)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(flat, return_counts=True)
    mapping: dict[str, str] = {}
    for key in dict.fromkeys(keys):
        mapping[key] = str(rng.choice(classes, p=counts / counts.sum()))
    return [mapping[k] for k in keys]


def _folds(level: str, y: list[str], types: list[str], cv: int, split: str, seed: int) -> tuple[Any, np.ndarray | None]:
    """Cross-validation folds: grouped by word type (token data, ``split="type"``) or stratified."""
    if split == "type" and level == "token":
        groups = np.array(types)
        n_groups = len(set(groups.tolist()))
        if n_groups < cv:
            raise InvalidInputError(f"Only {n_groups} word types for cv={cv} folds; use more data or fewer folds.")
        return GroupKFold(n_splits=cv), groups
    if len(y) < cv:
        raise InvalidInputError(f"Only {len(y)} examples for cv={cv} folds; use more data or fewer folds.")
    return StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed), None


def _cv_accuracy(probe: LinearProbe, X: np.ndarray, y: list[str], folds: Any, groups: np.ndarray | None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rare classes in stratified folds
        return cross_val_score(probe, X, np.asarray(y), cv=folds, groups=groups, scoring="accuracy")


def _as_data(
    data: LabelledData | str | Path, text_column: str | None, label_column: str | None, limit: int | None, seed: int
) -> LabelledData:
    """The labelled data (read from a file when given a path), refused when it has too few classes."""
    if not isinstance(data, LabelledData):
        data = load_labelled(data, text_column=text_column, label_column=label_column, limit=limit, seed=seed)
    check_classes(data.flat_labels())
    return data


def _check_split(split: str, cv: int) -> None:
    """``split`` is ``type`` or ``random``, and cross-validation needs at least 2 folds."""
    c.check_choice("split", split, ("type", "random"))
    if cv < 2:
        raise InvalidInputError(f"cv={cv}; cross-validation needs at least 2 folds.")


def _kept_examples(data: LabelledData, keep: np.ndarray, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Labels, control-task labels and word types (token data only) of the examples that were kept."""
    y = [label for label, k in zip(data.flat_labels(), keep) if k]
    y_control = [label for label, k in zip(control_labels(data, seed), keep) if k]
    types = [w.lower() for item in data.words for w in item] if data.level == "token" else []
    return y, y_control, [t for t, k in zip(types, keep) if k]


def _probe_meta(
    data: LabelledData,
    y: list[str],
    y_control: list[str],
    control: bool,
    scores: np.ndarray,
    spread: Any,
    layer_list: list[int],
    batch_size: int,
    watch: c.Stopwatch,
) -> dict[str, Any]:
    """Majority baselines, class counts, fold spreads, the best layer and the work done."""
    counts = Counter(y)
    return {
        "majority_baseline": max(counts.values()) / len(y),
        "control_majority_baseline": max(Counter(y_control).values()) / len(y) if control else None,
        "n_texts": len(data), "n_examples": len(y), "level": data.level, "classes": dict(counts.most_common()),
        "fold_std": spread, "best_layer": layer_list[int(scores[:, 0].argmax())], "source": data.source,
        "forward_passes": -(-len(data) // batch_size), "seconds": watch.seconds(),
    }  # fmt: skip


def _step_progress(
    progress: Callable[[int, int], None] | None, n_texts: int, n_layers: int
) -> tuple[Callable[[int, int], None], Callable[[int], None]]:
    """Two callbacks that report one count over all steps: each text run, then each layer probed."""
    steps = n_texts + n_layers

    def texts_done(done: int, _total: int) -> None:
        if progress is not None:
            progress(done, steps)

    def layers_done(done: int) -> None:
        if progress is not None:
            progress(n_texts + done, steps)

    return texts_done, layers_done


#: The columns of a probe's heat map (the control ones only with a control task).
PROBE_METRICS = ["accuracy", "control", "selectivity"]


def probe(
    lm: LM,
    data: LabelledData | str | Path,
    *,
    layers: int | Sequence[int] | None = None,
    cv: int = 5,
    control: bool = True,
    split: str = "type",
    pooling: str = "mean",
    C: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 16,
    chat: bool | None = False,
    progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """Cross-validated linear-probe accuracy at each layer, with a control task and selectivity.

    Args:
        data: a :class:`LabelledData` or a path (``.conllu``, ``.tsv``, ``.csv``, ``.jsonl``).
        layers: which layers' ``resid_post`` to probe (default: all).
        cv: number of folds; split: ``type`` (folds by word type, token data) or ``random``.
        limit: use a seeded random sample of this many texts.
        progress: ``progress(done, total)`` over the steps: each text run, then each layer probed.

    Returns an :class:`Explanation` over ``("layer", "metric")`` with metrics ``accuracy``,
    ``control`` and ``selectivity`` (control ones only with ``control=True``); ``meta``
    holds the majority-class baseline, class counts and per-fold standard deviations.
    """
    watch = c.Stopwatch()
    _check_split(split, cv)
    data = _as_data(data, text_column, label_column, limit, seed)
    layer_list = c.resolve_layers(lm, layers)
    texts_done, layers_done = _step_progress(progress, len(data), len(layer_list))
    features, keep = collect_features(
        lm, data, layer_list, pooling=pooling, batch_size=batch_size, chat=chat, progress=texts_done
    )
    y, y_control, types = _kept_examples(data, keep, seed)
    folds, groups = _folds(data.level, y, types, cv, split, seed)
    scores, spread = _cv_table(
        features, layer_list, y, y_control if control else None, folds, groups, C, seed, layers_done
    )
    params = {"layers": layer_list, "cv": cv, "control": control, "split": split, "pooling": pooling, "C": C,
              "limit": limit, "seed": seed, "chat": chat}  # fmt: skip
    meta = _probe_meta(data, y, y_control, control, scores, spread, layer_list, batch_size, watch)
    return _probe_explanation(lm, scores, layer_list, meta, params)


def _probe_explanation(
    lm: LM, scores: np.ndarray, layer_list: list[int], meta: dict[str, Any], params: dict[str, Any]
) -> Explanation:
    """The probe's table as a heat map over (layer, metric)."""
    return Explanation(
        scores=scores,
        axes=("layer", "metric"),
        labels={"layer": c.layer_labels(layer_list), "metric": PROBE_METRICS[: scores.shape[1]]},
        method="linear_probe",
        model=lm.name,
        kind="probe",
        signed=False,
        meta=meta,
        params=params,
    )


def _cv_table(
    features: dict[int, np.ndarray], layers: list[int], y: list[str], y_control: list[str] | None, folds: Any,
    groups: np.ndarray | None, C: float, seed: int, progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, list[list[float]]]:  # fmt: skip
    """Per layer: ``[accuracy, control accuracy, selectivity]`` (or ``[accuracy]``) and the folds' std."""
    rows, spread = [], []
    for layer in layers:
        est = LinearProbe(C=C, random_state=seed)
        acc = _cv_accuracy(est, features[layer], y, folds, groups)
        row, sd = [float(acc.mean())], [float(acc.std())]
        if y_control is not None:
            ctrl = _cv_accuracy(est, features[layer], y_control, folds, groups)
            row += [float(ctrl.mean()), float(acc.mean() - ctrl.mean())]
            sd.append(float(ctrl.std()))
        rows.append(row)
        spread.append(sd)
        if progress is not None:
            progress(len(rows))
    return np.array(rows), spread


def fit_probe(
    lm: LM,
    data: LabelledData | str | Path,
    *,
    layer: int,
    pooling: str = "mean",
    C: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 16,
    chat: bool | None = False,
) -> LinearProbe:
    """Train one probe on all of ``data`` at ``layer`` (to save, reapply, or steer with).

    The probe's ``info_`` records the model, layer and pooling so it can be reapplied.
    """
    data = _as_data(data, text_column, label_column, limit, seed)
    (index,) = c.resolve_layers(lm, layer)
    features, keep = collect_features(lm, data, [index], pooling=pooling, batch_size=batch_size, chat=chat)
    y = [label for label, k in zip(data.flat_labels(), keep) if k]
    fitted = LinearProbe(C=C, random_state=seed).fit(features[index], y)
    fitted.info_ = {"model": lm.name, "layer": index, "site": "resid_post", "pooling": pooling, "level": data.level}
    return fitted
