"""Tiny inline-SVG charts for the audit report: no JavaScript, no CDN, readable when printed.

:func:`bar_chart` draws one horizontal bar per row, an optional confidence interval as a
whisker, and an optional reference line (50 % for CrowS-Pairs, the threshold elsewhere).
Values can be signed (differences): the axis then runs from ``-limit`` to ``+limit``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    ci: tuple[float, float] | None = None
    note: str = ""


def _fmt(v: float, percent: bool) -> str:
    return f"{v * 100:.1f} %" if percent else f"{v:+.3f}" if v < 0 else f"{v:.3f}"


def _bar_row(
    b: Bar,
    y: int,
    zero: float,
    x: Callable[[float], float],
    percent: bool,
    width: int,
    label_w: int,
    value_w: int,
    row_h: int,
) -> list[str]:
    """One row at height ``y``: the label, the bar from ``zero`` to the value, its whisker and its value."""
    v = b.value if b.value is not None and math.isfinite(b.value) else 0.0
    x0, x1 = sorted((zero, x(v)))
    parts = [f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(b.label[:30])}</text>']
    cls = "neg" if v < 0 else "pos"
    parts.append(f'<rect class="{cls}" x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" height="{row_h - 8}"/>')
    if b.ci is not None and all(c is not None and math.isfinite(c) for c in b.ci):
        c0, c1 = x(b.ci[0]), x(b.ci[1])
        mid = y + row_h / 2
        parts.append(
            f'<path class="ci" d="M{c0:.1f},{mid} H{c1:.1f} M{c0:.1f},{mid - 5} V{mid + 5} '
            f'M{c1:.1f},{mid - 5} V{mid + 5}"/>'
        )
    text = _fmt(v, percent) + (f" {b.note}" if b.note else "")
    parts.append(f'<text x="{width - value_w + 6}" y="{y + 15}">{html.escape(text)}</text>')
    return parts


def _reference_line(rx: float, ref_label: str, top: int, axis_y: int, titled: bool) -> list[str]:
    """The dashed reference line at ``rx`` and its label (above the rows when the chart has a title)."""
    parts = [f'<line class="ref" x1="{rx:.1f}" x2="{rx:.1f}" y1="{top}" y2="{axis_y}"/>']
    if ref_label:
        parts.append(
            f'<text class="tick" x="{rx + 3:.1f}" y="{top - 2 if titled else top + 10}">{html.escape(ref_label)}</text>'
        )
    return parts


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str = "",
    lo: float = 0.0,
    hi: float = 1.0,
    ref: float | None = None,
    ref_label: str = "",
    percent: bool = True,
    width: int = 720,
) -> str:
    """An ``<svg>`` bar chart (one row per bar), as a string."""
    if not bars:
        return ""
    label_w, value_w, row_h, top = 190, 170, 22, 28 if title else 8
    plot_w = width - label_w - value_w
    height = top + row_h * len(bars) + 24

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return label_w + (v - lo) / (hi - lo) * plot_w if hi > lo else label_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pl-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">'
    ]
    if title:
        parts.append(f'<text x="4" y="16" class="t">{html.escape(title)}</text>')
    zero = x(0.0) if lo < 0 < hi else x(lo)
    for i, b in enumerate(bars):
        parts.extend(_bar_row(b, top + i * row_h, zero, x, percent, width, label_w, value_w, row_h))
    axis_y = top + row_h * len(bars) + 2
    parts.append(f'<line class="axis" x1="{label_w}" x2="{label_w + plot_w}" y1="{axis_y}" y2="{axis_y}"/>')
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text class="tick" x="{x(v):.1f}" y="{axis_y + 14}" text-anchor="middle">{_fmt(v, percent)}</text>'
        )
    if ref is not None:
        parts.extend(_reference_line(x(ref), ref_label, top, axis_y, bool(title)))
    parts.append("</svg>")
    return "".join(parts)


CSS = """
.pl-chart text{font:12px system-ui,sans-serif;fill:#222}.pl-chart .t{font-weight:600}
.pl-chart .tick{fill:#666;font-size:11px}.pl-chart rect.pos{fill:#4a7fb5}.pl-chart rect.neg{fill:#c0504d}
.pl-chart .ci{stroke:#222;stroke-width:1.3;fill:none}.pl-chart .axis{stroke:#999}
.pl-chart .ref{stroke:#d08000;stroke-dasharray:4 3;stroke-width:1.5}
"""
