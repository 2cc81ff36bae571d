"""Run only the part of the network that a patch can change.

Patching an activation at layer ``l``, position ``p`` changes nothing below layer ``l`` and
nothing at positions before ``p`` (attention is causal). A naive sweep still recomputes
the whole network for every patch. This module reuses a *base run* instead:

1. :func:`base_run` runs the base (corrupted) input once, keeping the residual stream at
   the start of every needed block and the attention keys/values of every layer.
2. :func:`run_from` runs a batch of edited copies through blocks ``l..n-1`` only, for the
   positions ``start..L-1`` only: the block list is temporarily cut to ``blocks[l:]``
   (:meth:`LM.blocks_from <pellucid.models.lm.LM.blocks_from>`), the
   residual stream entering block ``l`` is replaced by the cached one, and the keys/values
   of positions ``< start`` come from the base run's cache. Only the last position is
   projected to the vocabulary (``logits_to_keep=1``).
3. :func:`plan_chunks` groups the positions of one layer into batches so that each call is
   large enough to amortise reading the weights (on CPU, a small forward is bound by memory
   bandwidth) without wasting much compute on positions before a chunk's first patch.

Results equal one full forward per patch up to float rounding (tests check 1e-4).

Everything that depends on Hugging Face internals in :mod:`pellucid.inspect` is in this file:
reading the keys/values of the base run into a :class:`pellucid.models.kv.PrefixCache`, whose
``expanded`` builds the cache each patched batch starts from. While :func:`run_from` runs, the
model's block list is shortened by ``LM.blocks_from``; like hooks, this holds the model's
exclusive lease (other threads' forward passes wait) and is undone in ``finally``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.models.hooks import HookFn
from pellucid.models.kv import PrefixCache

if TYPE_CHECKING:
    from pellucid.models.lm import LM


@dataclass
class BaseRun:
    """What a patched run reuses from the base run.

    Attributes:
        ids: ``[S, L]`` token ids of the ``S`` base variants (1, or one per noise sample).
        kv: per layer, keys and values ``[S, H_kv, L, d_head]`` (a :class:`PrefixCache`).
        resid: layer -> residual stream entering that block, ``[S, L, D]``.
        logits: ``[S, V]`` next-token logits of the base run at the last position.
    """

    ids: torch.Tensor
    kv: PrefixCache
    resid: dict[int, torch.Tensor]
    logits: torch.Tensor


def base_run(
    lm: LM,
    ids: torch.Tensor,
    layers: Sequence[int],
    hooks: Sequence[tuple[str, HookFn]] = (),
) -> BaseRun:
    """Run ``ids`` once (with optional editing ``hooks``) and keep what :func:`run_from` needs."""
    resid: dict[int, torch.Tensor] = {}

    def keep(value: torch.Tensor, site: str) -> None:
        resid[int(site.split(".")[1])] = value.detach()

    reads = [(f"blocks.{layer}.resid_pre", keep) for layer in sorted(set(layers))]
    with torch.no_grad(), lm.hooks([*hooks, *reads]):
        out = lm.forward(ids, use_cache=True, logits_to_keep=1)
    kv = PrefixCache.from_output(out, int(ids.shape[1]))
    return BaseRun(ids=ids, kv=kv, resid=resid, logits=out.logits[:, -1].detach())


def fast_supported(lm: LM, length: int) -> bool:
    """Whether skipping the blocks below the patch is exact for this model and input length.

    Models that mix sliding-window and full-attention layers look up each layer's mask by its
    index in the (shortened) loop, so for inputs longer than the window every block runs
    (the prefix cache and batching still apply).
    """
    config = lm.model.config
    types = getattr(config, "layer_types", None)
    window = getattr(config, "sliding_window", None)
    mixed = types is not None and len(set(types)) > 1
    return not (mixed and window is not None and length > int(window))


def _prefix_cache(lm: LM, base: BaseRun, rows: torch.Tensor, start: int) -> Any:
    """A fresh cache of the first ``start`` positions, copy ``b`` taken from base variant ``rows[b]``."""
    chosen = PrefixCache([(k[rows, :, :start], v[rows, :, :start]) for k, v in base.kv.layers], start)
    return chosen.expanded(len(rows), start, lm.model.config)


def run_from(
    lm: LM,
    base: BaseRun,
    *,
    layer: int,
    start: int,
    rows: torch.Tensor,
    resid_in: torch.Tensor | None = None,
    hooks: Sequence[tuple[str, HookFn]] = (),
) -> torch.Tensor:
    """Next-token logits ``[B, V]`` of ``B`` edited copies of the base run.

    Copy ``b`` starts from base variant ``rows[b]``. Blocks below ``layer`` and positions
    before ``start`` are taken from the base run; ``resid_in`` (``[B, L - start, D]``,
    default: the base run's) enters block ``layer``; ``hooks`` edit sites at or above it
    (their tensors cover positions ``start..L-1`` only).
    """
    layer_from = layer if fast_supported(lm, base.ids.shape[1]) else 0
    if resid_in is None:
        resid_in = base.resid[layer][rows, start:]

    def enter(_value: torch.Tensor, _site: str) -> torch.Tensor:
        return resid_in

    past = _prefix_cache(lm, base, rows, start) if start > 0 else None
    with torch.no_grad(), lm.hooks([(f"blocks.{layer}.resid_pre", enter), *hooks]), lm.blocks_from(layer_from):
        out = lm.forward(base.ids[rows, start:], cache=past, logits_to_keep=1)
    return out.logits[:, -1]


def plan_chunks(
    positions: Sequence[int], length: int, overhead_rows: int = 48, max_rows: int = 4096
) -> list[list[int]]:
    """Split sorted ``positions`` into batches that minimise estimated cost.

    A batch starting at position ``p0`` with ``c`` copies processes ``c * (length - p0)``
    token rows, plus a fixed cost (reading the weights) worth ``overhead_rows`` rows.
    Dynamic programming over contiguous runs finds the cheapest split.
    """
    pos = sorted(positions)
    n = len(pos)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            rows = (j - i) * (length - pos[i])
            if rows > max_rows and j - i > 1:
                break
            cost = best[i] + overhead_rows + rows
            if cost < best[j]:
                best[j], cut[j] = cost, i
    chunks: list[list[int]] = []
    j = n
    while j > 0:
        chunks.append(pos[cut[j] : j])
        j = cut[j]
    return chunks[::-1]
