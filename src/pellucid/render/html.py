"""Draw an :class:`~pellucid.types.Explanation` as self-contained HTML (no CDN, works offline).

:func:`explanation_fragment` is what Jupyter shows (``Explanation._repr_html_``);
:func:`explanation_page` wraps it into a standalone page (``pellucid explain --html``).
The data is embedded as JSON and drawn by a small inline script, so one renderer handles
every kind: token heat maps for ``("target", "input")`` (click a target token to switch row),
and coloured grids for any other 2-D or 3-D result. The cell colours are computed here, with
:mod:`pellucid.render.colors` (the scale the workbench shares), and embedded next to the data:
one scale per token row, per grid, or per slice of a 3-D result.
"""

from __future__ import annotations

import functools
import html
import json
import uuid
from importlib import resources
from typing import Any

import numpy as np

from pellucid.render.colors import Scale, make_scale
from pellucid.types import Explanation

_ASSETS = resources.files("pellucid.render") / "assets"


@functools.cache
def _asset(name: str) -> str:
    """The text of a packaged asset (``render/assets/<name>``)."""
    return (_ASSETS / name).read_text(encoding="utf-8")


def _colors_on(grid: np.ndarray, scale: Scale) -> list[Any]:
    if grid.ndim == 1:
        return [scale.css(float(v)) for v in grid]
    return [_colors_on(r, scale) for r in grid]


def cell_colors(ex: Explanation) -> list[Any]:
    """The colour of every cell as the page draws it: a scale per token row (``target × input``),
    per 2-D grid, or per slice of the first axis of a 3-D result."""
    scores = np.asarray(ex.scores, dtype=np.float64)
    if ex.axes == ("target", "input") or scores.ndim == 3:
        return [_colors_on(part, make_scale(part, ex.signed)) for part in scores]
    if scores.ndim == 2:
        return _colors_on(scores, make_scale(scores, ex.signed))
    return []


def explanation_fragment(ex: Explanation) -> str:
    """A ``<div>`` with inline style and script that draws ``ex``."""
    element_id = f"pl-{uuid.uuid4().hex[:12]}"
    data = json.dumps(ex.to_dict(), allow_nan=False).replace("</", "<\\/")
    meta = {k: v for k, v in ex.meta.items() if k != "label_info"}
    meta_text = ", ".join(f"{k}={v}" for k, v in meta.items() if isinstance(v, (int, float, str)))
    header = html.escape(f"{ex.method} · {ex.model} · {ex.kind}")
    colors = json.dumps(cell_colors(ex))
    script = (
        _asset("explanation.js")
        .replace("__PL_ID__", json.dumps(element_id))
        .replace("__PL_COLORS__", colors)
        .replace("__PL_DATA__", data)
    )
    return (
        f"<style>{_asset('explanation.css')}</style>"
        f'<div class="pl-ex"><div class="pl-meta">{header}</div>'
        f'<div id="{element_id}"></div>'
        f'<div class="pl-meta">{html.escape(meta_text)}</div></div>'
        f"<script>{script}</script>"
    )


def explanation_page(ex: Explanation, title: str | None = None) -> str:
    """A standalone HTML page (no external resources)."""
    title = html.escape(title or f"Pellucid · {ex.method}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><h3>{title}</h3>{explanation_fragment(ex)}</body></html>"
    )
