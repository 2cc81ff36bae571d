"""Draw an :class:`~pellucid.types.Explanation` in the terminal with rich.

- ``("target", "input")`` attributions: the input text with each token shaded by its score
  for one target row (the whole-sequence row by default), then the top inputs per target token.
- any other 2-D result (layer × position, query × key...): a coloured grid.
- 3-D results: one grid per slice of the first axis (the first few).
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pellucid.render.colors import Scale, make_scale, text_on
from pellucid.types import Explanation

MAX_COLUMNS = 32


def _style(value: float, scale: Scale) -> str:
    color = scale.rgb(value)
    if color is None:
        return "dim"
    return f"{text_on(color)} on rgb({color[0]},{color[1]},{color[2]})"


def _fmt(value: float) -> str:
    return "·" if not math.isfinite(value) else f"{value:+.3f}"


def render_tokens(ex: Explanation, row: int | None = None) -> Text:
    """The input tokens shaded by their scores for target row ``row`` (default: last row)."""
    row = ex.scores.shape[0] - 1 if row is None else row
    scores = ex.scores[row]
    scale = make_scale(scores, ex.signed)
    segments = ex.label_info("input", "segment") or [""] * len(scores)
    text = Text()
    for token, value, segment in zip(ex.labels["input"], scores, segments):
        shown = token.replace("\n", "⏎\n")
        text.append(shown, style="dim" if segment == "template" else _style(float(value), scale))
    return text


def top_inputs_table(ex: Explanation, k: int = 5) -> Table:
    table = Table(title=f"Top {k} inputs per target token ({ex.method})", show_lines=False)
    table.add_column(ex.axes[0])
    for i in range(k):
        table.add_column(f"#{i + 1}")
    for r, label in enumerate(ex.labels[ex.axes[0]]):
        values = ex.scores[r]
        order = [int(i) for i in np.argsort(-np.nan_to_num(values, nan=-np.inf)) if math.isfinite(values[i])]
        cells = [f"{ex.labels['input'][i]!r} {_fmt(float(values[i]))}" for i in order[:k]]
        table.add_row(repr(label), *cells, *[""] * (k - len(cells)))
    return table


def grid(ex: Explanation, scores: np.ndarray, row_axis: str, col_axis: str, title: str = "") -> Table:
    scale = make_scale(scores, ex.signed)
    cols = ex.labels[col_axis][:MAX_COLUMNS]
    table = Table(title=title or f"{ex.method}: {row_axis} × {col_axis}", show_header=True, padding=(0, 0))
    table.add_column(row_axis, no_wrap=True)
    for c in cols:
        table.add_column(c.replace("\n", "⏎")[:8], no_wrap=True, justify="right")
    for r, label in enumerate(ex.labels[row_axis]):
        cells = [
            Text(f"{v:6.2f}" if math.isfinite(v) else "   ·  ", style=_style(v, scale)) for v in scores[r][: len(cols)]
        ]
        table.add_row(label.replace("\n", "⏎"), *cells)
    if len(ex.labels[col_axis]) > MAX_COLUMNS:
        table.caption = f"first {MAX_COLUMNS} of {len(ex.labels[col_axis])} {col_axis} columns; use --json for all"
    return table


def print_explanation(ex: Explanation, console: Console | None = None, row: int | None = None) -> None:
    """Render any explanation to ``console``."""
    console = console or Console()
    if ex.axes == ("target", "input"):
        label = ex.labels["target"][row if row is not None else -1]
        console.print(f"[bold]{ex.method}[/] attributions for target [bold]{label!r}[/] ({ex.model})")
        console.print(render_tokens(ex, row))
        console.print()
        console.print(top_inputs_table(ex))
    elif ex.scores.ndim == 2:
        console.print(grid(ex, ex.scores, ex.axes[0], ex.axes[1]))
    elif ex.scores.ndim == 3:
        first = ex.axes[0]
        for i, label in enumerate(ex.labels[first][:4]):
            console.print(grid(ex, ex.scores[i], ex.axes[1], ex.axes[2], title=f"{ex.method}: {first} {label}"))
        if len(ex.labels[first]) > 4:
            console.print(f"[dim]… {len(ex.labels[first]) - 4} more {first} slices; use --json or --html[/]")
    else:
        console.print(ex.to_dataframe().to_string())
    checks = {
        k: v
        for k, v in ex.meta.items()
        if k in ("completeness_residual", "efficiency_gap", "forward_passes", "seconds")
    }
    if checks:
        console.print("[dim]" + "  ".join(f"{k}={v}" for k, v in checks.items()) + "[/]")
