"""Explain every prompt of a data set: one result row per prompt.

Items are ``{"row", "prompt", "target"}`` (``target`` ``None``: the model's own answer is
generated and explained), and ``"span"`` when only part of the prompt is attributed (a row's text
inside a template: ``(start, end)`` characters of the prompt). Each row holds the explained text,
the input labels, the scores of the whole-target row, the top features, the counts a user filters on, and the full
:class:`~pellucid.types.Explanation` as JSON (``Explanation.from_dict(json.loads(row["explanation"]))``
gives it back for the heat map).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pellucid.batch.task import Task
from pellucid.errors import PellucidError

if TYPE_CHECKING:
    from pellucid.models import LM


def row_seed(seed: int, row: int) -> int:
    """The seed of one item: fixed by the job's seed and the item's row, whatever block runs it."""
    return (seed * 1_000_003 + row) % (2**31 - 1)


@dataclass
class ExplainTask(Task):
    """Attribute each prompt's target (or answer) with ``method``; see the module docstring."""

    method: str = "occlusion"
    params: dict[str, Any] = field(default_factory=dict)
    raw: bool = False
    system: str | None = None
    foil: str | None = None
    target_kind: str = "logprob"
    granularity: str = "word"
    segments: tuple[str, ...] = ("user",)
    max_new_tokens: int = 32
    seed: int = 0
    top_k: int = 5

    name = "explain"

    def parameters(self) -> dict[str, Any]:
        return {
            "method": self.method, "params": self.params, "raw": self.raw, "system": self.system, "foil": self.foil,
            "target_kind": self.target_kind, "granularity": self.granularity, "segments": list(self.segments),
            "max_new_tokens": self.max_new_tokens, "seed": self.seed,
        }  # fmt: skip

    def validate(self) -> None:
        from pellucid.attribution import get_method

        get_method(self.method).resolve_params(self.params)

    def setup(self) -> None:
        from pellucid.models import LM

        self._lm: LM = LM.load(self.model_name(), self.settings)

    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._one(item) for item in items]

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        from pellucid import service

        row: dict[str, Any] = {"row": item["row"], "prompt": item["prompt"], "target": item.get("target")}
        started = time.perf_counter()
        try:
            ex = service.explain(
                self._lm, item["prompt"], target=item.get("target"), method=self.method, raw=self.raw,
                system=self.system, foil=self.foil, target_kind=self.target_kind, granularity=self.granularity,
                segments=self.segments, max_new_tokens=self.max_new_tokens, seed=row_seed(self.seed, item["row"]),
                text_span=_span(item.get("span")), **self.params,
            )  # fmt: skip
        except PellucidError as exc:
            return {**row, **_empty(), "error": str(exc), "seconds": round(time.perf_counter() - started, 4)}
        whole = [None if math.isnan(v) else float(v) for v in ex.scores[-1]]
        labels = list(ex.labels["input"])
        ranked = sorted(((v, i) for i, v in enumerate(whole) if v is not None), reverse=True)
        return {
            **row,
            "method": ex.method,
            "model": ex.model,
            "explained": ex.meta.get("target_text"),
            "generated": bool(ex.meta.get("generated")),
            "inputs": labels,
            "scores": whole,
            "top": [labels[i] for _, i in ranked[: self.top_k]],
            "forward_passes": ex.meta.get("forward_passes"),
            "explanation": ex.to_json(),
            "error": None,
            "seconds": round(time.perf_counter() - started, 4),
        }


def _span(value: Any) -> tuple[int, int] | None:
    """An item's span as a pair of ints (it may arrive as a list or an array from a Ray block)."""
    return None if value is None else (int(value[0]), int(value[1]))


def _empty() -> dict[str, Any]:
    return {"method": None, "model": None, "explained": None, "generated": None, "inputs": [], "scores": [],
            "top": [], "forward_passes": None, "explanation": None}  # fmt: skip


def explanation_of(row: dict[str, Any]) -> Any:
    """The :class:`~pellucid.types.Explanation` stored in a result row (``None`` for an errored row)."""
    from pellucid.types import Explanation

    return None if row.get("explanation") is None else Explanation.from_dict(json.loads(row["explanation"]))
