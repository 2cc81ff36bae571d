"""The one heat-map colour scale, shared with the workbench.

The colours and thresholds live in ``render/assets/colors.json``; the workbench imports the same
file (``frontend/src/heatmap/colorscale.ts``) and implements the same rule, and a test compares
the two cell by cell. The rule:

- **signed** scores: diverging around 0, scaled by the largest absolute finite score, so the
  strongest cell is fully saturated (red raises the target, blue lowers it, white is 0).
- **unsigned** scores (attention, probabilities, entropies): sequential *from 0* — over
  ``[0, max]`` when all are ≥ 0, over ``[min, 0]`` when all are ≤ 0 (log-probabilities). A
  colour then says how large a score is, not where it falls between this view's extremes:
  probe accuracies of 0.90 and 0.95 stay two similar reds instead of "nothing" and "everything".
  Unsigned data on both sides of 0 (a normalised patching effect that overshoots) is drawn
  diverging like signed data, so a negative value never looks like a positive one.
- **NaN** (not computed): no colour.
- **text** on a cell is dark when the background's luma exceeds ``text_threshold``.

Channels are mixed as ``round_half_up(zero + (end - zero) * |t|)``: half-up, as JavaScript's
``Math.round``, not Python's banker's ``round``, so both sides give the same bytes.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

RGB = tuple[int, int, int]


@functools.cache
def palette() -> dict[str, Any]:
    """The shared colour definitions (``render/assets/colors.json``)."""
    text = (resources.files("pellucid.render") / "assets" / "colors.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _mix(end: list[int], a: float) -> RGB:
    zero = palette()["zero"]
    r, g, b = (math.floor(z + (e - z) * a + 0.5) for z, e in zip(zero, end, strict=True))
    return (r, g, b)


@dataclass(frozen=True)
class Scale:
    """A colour scale fitted to some scores: ``t(v)`` in [-1, 1] (or [0, 1]), ``rgb(v)`` its colour.

    Attributes:
        diverging: drawn around 0 with two colours (signed scores, or unsigned ones on both sides of 0).
        lo, hi: the scores the two ends of the scale stand for.
    """

    diverging: bool
    lo: float
    hi: float

    def t(self, value: float | None) -> float | None:
        """Position of ``value`` on the scale; ``None`` for NaN / missing (no colour)."""
        if value is None or not math.isfinite(value):
            return None
        if self.diverging:
            return max(-1.0, min(1.0, value / self.hi))
        return max(0.0, min(1.0, (value - self.lo) / (self.hi - self.lo)))

    def rgb(self, value: float | None) -> RGB | None:
        """Background colour of a cell, or ``None`` when it was not computed."""
        t = self.t(value)
        if t is None:
            return None
        return _mix(palette()["high"], t) if t >= 0 else _mix(palette()["low"], -t)

    def css(self, value: float | None) -> str | None:
        """The colour as CSS ``rgb(r,g,b)`` (what the workbench writes), or ``None``."""
        color = self.rgb(value)
        return None if color is None else "rgb({},{},{})".format(*color)

    def hex(self, value: float | None) -> str | None:
        """The colour as ``#rrggbb``, or ``None``."""
        color = self.rgb(value)
        return None if color is None else "#{:02x}{:02x}{:02x}".format(*color)


def make_scale(scores: Any, signed: bool) -> Scale:
    """The scale for ``scores`` (any shape; NaN ignored) under the rule in the module docstring."""
    values = np.asarray(scores, dtype=np.float64)
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    if signed or (lo < 0 < hi):
        m = max(abs(lo), abs(hi)) or 1.0
        return Scale(True, -m, m)
    if hi > 0 or lo == 0:
        return Scale(False, 0.0, hi or 1.0)
    return Scale(False, lo, 0.0)


def text_on(color: RGB) -> str:
    """``black`` or ``white``: the text colour that reads on ``color``."""
    weights, threshold = palette()["luma"], palette()["text_threshold"]
    luma = sum(w * c for w, c in zip(weights, color, strict=True))
    return "black" if luma > threshold else "white"
