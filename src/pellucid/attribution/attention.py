"""Attention as attribution: raw attention weights and attention rollout.

For target token ``i`` the query is the position that predicts it (the last prompt position
for the first target token, then each earlier target token). ``attention`` reads that
query's attention weights to the prompt, at one layer or averaged over layers, with heads
averaged or max-pooled. ``attention_rollout`` (Abnar & Zuidema 2020) multiplies the
head-averaged attention matrices of all layers, each mixed with the identity for the
residual connection (``0.5·A + 0.5·I``), to trace how information flows from inputs to the query.

Attention shows where the model *looked*, not what *mattered* — both are unsigned, and the
faithfulness scores are the way to compare them with gradient or perturbation methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pellucid.attribution.base import Context, MethodSpec, Param
from pellucid.errors import InvalidInputError


def _patterns(ctx: Context, layers: list[int]) -> torch.Tensor:
    """Attention weights ``[len(layers), H, L, L]`` over prompt + target[:-1]."""
    ids = torch.tensor([ctx.encoding.ids + ctx.spec.ids[:-1]], device=ctx.lm.device)
    sites = [f"blocks.{layer}.attn.pattern" for layer in layers]
    _, cache = ctx.lm.run_with_cache(ids, sites)
    ctx.scorer.forward_passes += 1
    return torch.stack([cache[s][0] for s in sites]).double()


def _rows(ctx: Context, matrix: torch.Tensor) -> np.ndarray:
    """From a ``[L, L]`` query × key matrix, the prompt features' scores ``[R, F]`` per target row."""
    prompt_len = len(ctx.encoding.ids)
    queries = [prompt_len - 1 + i for i in range(len(ctx.spec.ids))]
    token = matrix[queries][:, :prompt_len].numpy()  # [T, P]
    features = np.stack([token[:, positions].sum(1) for positions in ctx.units.feature_positions], axis=1)
    return np.vstack([features, features.mean(0, keepdims=True)])  # sequence row: mean over target tokens


def attention(ctx: Context, layer: str = "mean", heads: str = "mean") -> tuple[np.ndarray, dict[str, Any]]:
    n = ctx.lm.n_layers
    if layer == "mean":
        layers = list(range(n))
    else:
        try:
            index = int(layer)
        except ValueError:
            raise InvalidInputError(f"layer={layer!r}; give 'mean' or a layer number 0..{n - 1}.") from None
        if not -n <= index < n:
            raise InvalidInputError(f"layer={index} does not exist; this model has layers 0..{n - 1}.")
        layers = [index % n]
    patterns = _patterns(ctx, layers)  # [layers, H, L, L]
    pooled = patterns.max(1).values if heads == "max" else patterns.mean(1)
    return _rows(ctx, pooled.mean(0)), {"layers": layers}


def attention_rollout(ctx: Context, residual: float = 0.5) -> tuple[np.ndarray, dict[str, Any]]:
    patterns = _patterns(ctx, list(range(ctx.lm.n_layers))).mean(1)  # [layers, L, L]
    eye = torch.eye(patterns.shape[-1], dtype=patterns.dtype)
    rollout = eye
    for a in patterns:
        mixed = residual * eye + (1 - residual) * a
        mixed = mixed / mixed.sum(-1, keepdim=True)
        rollout = mixed @ rollout
    return _rows(ctx, rollout), {}


ATTENTION = MethodSpec(
    name="attention",
    description="Attention weights from each predicting position to the prompt (layers/heads pooled).",
    fn=attention,
    signed=False,
    params=(
        Param("layer", "str", "mean", "A layer number, or 'mean' over all layers."),
        Param("heads", "str", "mean", "How heads are pooled.", choices=("mean", "max")),
    ),
)
ATTENTION_ROLLOUT = MethodSpec(
    name="attention_rollout",
    description="Attention rollout: attention propagated through all layers with the residual path.",
    fn=attention_rollout,
    signed=False,
    params=(Param("residual", "float", 0.5, "Weight of the identity (residual) in each layer.", min=0.0, max=1.0),),
)
