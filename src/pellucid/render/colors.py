"""Colour scales shared by the terminal and HTML renderers.

Signed scores use a diverging scale (blue = pushes the target down, red = pushes it up);
unsigned scores a sequential one. Scores are scaled by the largest absolute finite value so
the strongest cell is fully saturated; NaN cells (not computed) have no colour.
"""

from __future__ import annotations

import math

import numpy as np

RED = (214, 39, 40)
BLUE = (31, 119, 180)
WHITE = (255, 255, 255)


def scale(scores: np.ndarray) -> float:
    finite = np.abs(scores[np.isfinite(scores)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def rgb(value: float, vmax: float, signed: bool) -> tuple[int, int, int] | None:
    """Background colour of one cell, or ``None`` for NaN."""
    if value is None or not math.isfinite(value):
        return None
    t = max(-1.0, min(1.0, value / vmax))
    end = RED if (t >= 0 or not signed) else BLUE
    a = abs(t)
    return tuple(round(w + (e - w) * a) for w, e in zip(WHITE, end))  # type: ignore[return-value]


def hex_color(value: float, vmax: float, signed: bool) -> str | None:
    color = rgb(value, vmax, signed)
    return None if color is None else "#{:02x}{:02x}{:02x}".format(*color)


def text_on(color: tuple[int, int, int]) -> str:
    """Black or white text, whichever reads better on ``color``."""
    r, g, b = color
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"
