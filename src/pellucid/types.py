"""Plain result types shared by every layer: no torch, no I/O beyond save/load.

``Explanation`` is the one type behind every heat map: token attributions (axes
``("target", "input")``), attention (``("head", "query", "key")``), patching and the logit
lens (``("layer", "position")``) all fit it, so one renderer draws them all. Its JSON form
(``kind``, ``method``, ``model``, ``axes``, ``labels``, ``scores``, ``signed``, ``params``,
``meta``) is the interface used by ``--json``, the REST API and the web front end.

``Encoding``, ``TokenScores`` and ``Generation`` describe tokenized inputs, teacher-forced
scores and generations.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

#: Segments a token can belong to in a chat-formatted prompt.
SEGMENTS = ("system", "user", "assistant", "template", "prompt", "target")


def _json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into JSON-compatible values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class Explanation:
    """Scores over named axes, with labels for each position along each axis.

    Attributes:
        scores: array of shape ``[len(labels[a]) for a in axes]``; NaN marks "not computed"
            (for example, template tokens that were not perturbed).
        axes: axis names, e.g. ``("target", "input")``.
        labels: for each axis, one display label per position.
        method: what produced the scores (``"occlusion"``, ``"attention"``...).
        model: the model's name.
        kind: family of result (``"attribution"``, ``"attention"``, ``"patching"``...).
        signed: whether negative scores are meaningful (diverging colour scale).
        params: the parameters the method ran with.
        meta: provenance and self-checks (completeness residual, forward passes, wall time,
            per-label details such as ``meta["label_info"]["input"]["segment"]``).
    """

    scores: np.ndarray
    axes: tuple[str, ...]
    labels: dict[str, list[str]]
    method: str
    model: str
    kind: str = "attribution"
    signed: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float64)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "axes", tuple(self.axes))
        if scores.ndim != len(self.axes):
            raise InvalidInputError(
                f"Explanation scores have {scores.ndim} dimensions but {len(self.axes)} axes "
                f"{self.axes}; give one axis name per dimension."
            )
        for axis, size in zip(self.axes, scores.shape):
            if axis not in self.labels:
                raise InvalidInputError(f"Explanation has no labels for axis {axis!r}; labels has {list(self.labels)}.")
            if len(self.labels[axis]) != size:
                raise InvalidInputError(
                    f"Axis {axis!r} has {size} scores but {len(self.labels[axis])} labels; they must match."
                )

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON interface: plain lists and dicts, NaN written as ``null``."""
        return {
            "kind": self.kind,
            "method": self.method,
            "model": self.model,
            "axes": list(self.axes),
            "labels": {axis: list(self.labels[axis]) for axis in self.axes},
            "scores": _json_safe(self.scores),
            "signed": self.signed,
            "params": _json_safe(self.params),
            "meta": _json_safe(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """Inverse of :meth:`to_dict` (``null`` scores come back as NaN)."""
        missing = [k for k in ("axes", "labels", "scores", "method", "model") if k not in data]
        if missing:
            raise InvalidInputError(f"Not an Explanation: missing keys {missing}.")
        scores = np.array(_nulls_to_nan(data["scores"]), dtype=np.float64)
        return cls(
            scores=scores.reshape([len(data["labels"][a]) for a in data["axes"]]),
            axes=tuple(data["axes"]),
            labels={k: list(v) for k, v in data["labels"].items()},
            method=data["method"],
            model=data["model"],
            kind=data.get("kind", "attribution"),
            signed=bool(data.get("signed", True)),
            params=dict(data.get("params", {})),
            meta=dict(data.get("meta", {})),
        )

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write the JSON form to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.to_json(indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Explanation:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def faithfulness(self, lm: Any, **kwargs: Any) -> dict[str, Any]:
        """How faithful this attribution is: ERASER comprehensiveness/sufficiency, deletion/insertion AOPC.

        ``lm`` is the model that produced it; keyword arguments go to
        :func:`pellucid.attribution.faithfulness.faithfulness`.
        """
        from pellucid.attribution.faithfulness import faithfulness

        return faithfulness(lm, self, **kwargs)

    # -- views -------------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """Long format: one row per cell, with ``<axis>`` label and ``<axis>_index`` columns."""
        import pandas as pd

        grids = np.meshgrid(*[np.arange(n) for n in self.scores.shape], indexing="ij")
        columns: dict[str, Any] = {}
        for axis, grid in zip(self.axes, grids):
            flat = grid.ravel()
            columns[f"{axis}_index"] = flat
            columns[axis] = np.asarray(self.labels[axis], dtype=object)[flat] if len(flat) else []
        columns["score"] = self.scores.ravel()
        return pd.DataFrame(columns)

    def label_info(self, axis: str, key: str) -> list[Any] | None:
        """Per-label details stored in ``meta["label_info"][axis][key]``, if present."""
        info = self.meta.get("label_info", {}).get(axis, {})
        value = info.get(key)
        return list(value) if value is not None else None

    def _repr_html_(self) -> str:
        from pellucid.render.html import explanation_fragment

        return explanation_fragment(self)


def _nulls_to_nan(value: Any) -> Any:
    if value is None:
        return float("nan")
    if isinstance(value, list):
        return [_nulls_to_nan(v) for v in value]
    return value


@dataclass(frozen=True)
class Encoding:
    """A tokenized input, with everything needed to map tokens back to text.

    Attributes:
        text: the full text that was tokenized (after the chat template, if any).
        ids: token ids.
        tokens: each token decoded on its own (what a heat map shows).
        offsets: ``(start, end)`` character span of each token in ``text``.
        segments: which part of the prompt each token belongs to: ``system``, ``user``,
            ``assistant``, ``template`` (markup added by the chat template or special tokens)
            or ``prompt`` (a raw prompt without a template).
        words: index of the word each token belongs to (``-1`` for template tokens).
        word_spans: ``(start, end)`` character span of each word in ``text``.
    """

    text: str
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    segments: list[str]
    words: list[int]
    word_spans: list[tuple[int, int]]
    chat: bool = False

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, *segments: str) -> list[int]:
        """Token positions whose segment is one of ``segments``."""
        return [i for i, s in enumerate(self.segments) if s in segments]

    @property
    def word_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.word_spans]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _json_safe(asdict(self))
        return data


@dataclass(frozen=True)
class TokenScores:
    """Teacher-forced scores of a target continuation given a prompt."""

    model: str
    prompt: str
    target: str
    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float]

    @property
    def total(self) -> float:
        """Log-probability of the whole target: the sum over its tokens."""
        return float(sum(self.logprobs))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _json_safe(asdict(self))
        data["total"] = self.total
        return data


@dataclass(frozen=True)
class Generation:
    """A generated continuation with the log-probability of each generated token."""

    model: str
    prompt: str
    text: str
    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str = "length"
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _json_safe(asdict(self))
        return data
