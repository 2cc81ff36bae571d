"""The patching sweeps: the metric after patching every (layer, position) or (layer, head).

:func:`pellucid.inspect.patching.patch` runs the source and base prompts once, then one of
these. The fast sweeps restart the base run at the patched layer and position (see
:mod:`pellucid.inspect._runner`): :func:`position_sweep` batches the positions of a layer in
chunks, :func:`head_sweep` patches every chosen head of a layer in one batched call.
:func:`changed_cells` finds the cells whose source activation equals the base run's bit for bit,
which the fast sweeps skip. :func:`naive_sweep` runs one full forward per patch, the reference
the fast sweeps are tested against. Each sweep reports ``progress(done, total)`` per layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from pellucid.inspect import _common as c
from pellucid.inspect._runner import BaseRun, plan_chunks, run_from

if TYPE_CHECKING:
    from pellucid.models.lm import LM

#: ``progress(done, total)``: layers swept so far, of all
Progress = Callable[[int, int], None]


def _overwrite(
    batch: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor
) -> Callable[[torch.Tensor, str], torch.Tensor]:
    """A hook that writes ``values`` at rows ``batch``, positions ``offsets`` of a copy of its input."""

    def edit(x: torch.Tensor, _site: str) -> torch.Tensor:
        x = x.clone()
        x[batch, offsets] = values
        return x

    return edit


def position_sweep(
    lm: LM,
    base: BaseRun,
    source: dict[int, torch.Tensor],
    site: str,
    layers: list[int],
    todo: dict[int, list[int]],
    positions: list[int],
    metric: c.TokenMetric,
    overhead_rows: int,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, int]:
    """Metric after patching each (layer, position) in ``todo``; other cells keep the base run's metric.

    Returns ``([layers, positions], calls)``.
    """
    out = metric(base.logits).cpu().expand(len(layers), len(positions)).clone()
    column = {p: i for i, p in enumerate(positions)}
    calls = 0
    length = base.ids.shape[1]
    for li, layer in enumerate(layers):
        for chunk in plan_chunks(todo[layer], length, overhead_rows) if todo[layer] else []:
            start = chunk[0]
            batch = torch.arange(len(chunk))
            offsets = torch.tensor(chunk) - start
            values = source[layer][chunk]
            rows = torch.zeros(len(chunk), dtype=torch.long)
            resid_in, hooks = None, []
            if site == "resid_pre":
                resid_in = base.resid[layer][rows, start:].clone()
                resid_in[batch, offsets] = values
            else:
                hooks = [(f"blocks.{layer}.{site}", _overwrite(batch, offsets, values))]
            logits = run_from(lm, base, layer=layer, start=start, rows=rows, resid_in=resid_in, hooks=hooks)
            calls += 1
            out[li, [column[p] for p in chunk]] = metric(logits).cpu()
        if progress is not None:
            progress(li + 1, len(layers))
    return out, calls


def head_sweep(
    lm: LM,
    base: BaseRun,
    source: dict[int, torch.Tensor],
    layers: list[int],
    heads: list[int],
    todo: dict[int, list[int]],
    positions: list[int],
    metric: c.TokenMetric,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, int]:
    """Metric after patching each (layer, head) in ``todo`` at ``positions``; one batched call per layer."""
    out = metric(base.logits).cpu().expand(len(layers), len(heads)).clone()
    column = {h: i for i, h in enumerate(heads)}
    start = positions[0]
    offsets = torch.tensor(positions) - start
    calls = 0
    for li, layer in enumerate(layers):
        if progress is not None and li:
            progress(li, len(layers))
        chosen = todo[layer]
        if not chosen:
            continue
        values = source[layer][positions]  # [P, H, d_head]

        def edit(z: torch.Tensor, _site: str, v: torch.Tensor = values, chosen: list[int] = chosen) -> torch.Tensor:
            z = z.clone()
            for b, head in enumerate(chosen):
                z[b, offsets, head] = v[:, head]
            return z

        rows = torch.zeros(len(chosen), dtype=torch.long)
        logits = run_from(lm, base, layer=layer, start=start, rows=rows, hooks=[(f"blocks.{layer}.attn.z", edit)])
        out[li, [column[h] for h in chosen]] = metric(logits).cpu()
        calls += 1
    if progress is not None:
        progress(len(layers), len(layers))
    return out, calls


def changed_cells(
    source: dict[int, torch.Tensor],
    target: dict[int, torch.Tensor],
    site: str,
    cells: list[int],
    positions: list[int],
) -> dict[int, list[int]]:
    """Per layer, the cells whose source activation differs from the base run's (others are no-ops)."""
    if site == "heads":
        return {
            layer: [h for h in cells if not torch.equal(src[positions][:, h], target[layer][positions][:, h])]
            for layer, src in source.items()
        }
    return {layer: [p for p in cells if not torch.equal(src[p], target[layer][p])] for layer, src in source.items()}


def naive_sweep(
    lm: LM,
    base_ids: torch.Tensor,
    source: dict[int, torch.Tensor],
    site: str,
    layers: list[int],
    cells: list[int],
    metric: c.TokenMetric,
    positions: list[int] | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """One full forward per patch (the reference the fast sweep is tested against).

    ``cells`` are positions (for stream sites) or heads (for ``site="heads"``, patched at
    ``positions``).
    """
    out = torch.empty(len(layers), len(cells))
    for li, layer in enumerate(layers):
        for ci, cell in enumerate(cells):

            def edit(x: torch.Tensor, _site: str, layer: int = layer, cell: int = cell) -> torch.Tensor:
                x = x.clone()
                if site == "heads":
                    x[:, positions, cell] = source[layer][positions, cell]
                else:
                    x[:, cell] = source[layer][cell]
                return x

            name = f"blocks.{layer}.{'attn.z' if site == 'heads' else site}"
            with torch.no_grad(), lm.hooks({name: edit}):
                out[li, ci] = metric(lm.forward(base_ids).logits[:, -1])[0].cpu()
        if progress is not None:
            progress(li + 1, len(layers))
    return out
