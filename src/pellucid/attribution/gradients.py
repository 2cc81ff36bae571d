"""Gradient methods: saliency, gradient × input, integrated gradients.

All three differentiate the target function ``F`` (one row per target token, plus the whole
sequence) with respect to the input embeddings of the prompt:

- **saliency**: the L2 norm of ``∂F/∂x`` per token (unsigned; Simonyan et al. 2014);
- **grad_x_input**: ``∂F/∂x · x`` summed over the embedding (signed);
- **integrated_gradients** (Sundararajan et al. 2017): ``(x - x') · ∫₀¹ ∂F/∂x(x' + α(x - x')) dα``,
  approximated with Gauss–Legendre nodes (or the trapezoid rule). Only the attributed
  features move along the path; the chat template stays in place. *Completeness* —
  ``Σ attributions = F(x) - F(x')`` — is checked on every result, and the relative residual is
  recorded in ``meta["completeness_residual"]``.

The positions before the first attributed token are served from the key/value cache, so
their layers are computed once rather than once per interpolation step. Rows whose value is a
sum of the token rows (log-probabilities and logits without a foil) take their gradient as
that sum, saving a backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pellucid.attribution.base import Context, MethodSpec, Param, baseline_token


def _local(ctx: Context) -> list[list[int]]:
    """Feature positions relative to the first embedded position."""
    start = ctx.scorer.embed_start
    return [[p - start for p in positions] for positions in ctx.units.feature_positions]


def _sum_row_is_linear(ctx: Context) -> bool:
    spec = ctx.spec
    return spec.kind in ("logprob", "logit") and (not spec.contrastive or spec.per_token_contrast)


def row_gradients(ctx: Context, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values [B, R], grads [R, B, S, D])`` of every row of ``F`` at ``embeds [B, S, D]``."""
    embeds = embeds.detach().requires_grad_(True)
    with torch.enable_grad():
        values = ctx.scorer.score_embeds(embeds)
        n_rows = values.shape[1]
        linear = _sum_row_is_linear(ctx)
        grads = []
        todo = n_rows - 1 if linear else n_rows
        for r in range(todo):
            (g,) = torch.autograd.grad(values[:, r].sum(), embeds, retain_graph=r < todo - 1)
            grads.append(g)
        if linear:
            grads.append(torch.stack(grads).sum(0))
    return values.detach(), torch.stack(grads)


def _per_feature(ctx: Context, token_scores: torch.Tensor, how: str) -> np.ndarray:
    """Aggregate ``[R, S]`` token scores into ``[R, F]`` feature scores (sum or L2)."""
    out = np.zeros((token_scores.shape[0], ctx.n_features))
    for f, positions in enumerate(_local(ctx)):
        part = token_scores[:, positions].double()
        out[:, f] = (part.pow(2).sum(1).sqrt() if how == "l2" else part.sum(1)).numpy()
    return out


def saliency(ctx: Context) -> tuple[np.ndarray, dict[str, Any]]:
    _, grads = row_gradients(ctx, ctx.scorer.embed_suffix())
    norms = grads[:, 0].norm(dim=-1)  # [R, S]
    return _per_feature(ctx, norms, "l2"), {}


def grad_x_input(ctx: Context) -> tuple[np.ndarray, dict[str, Any]]:
    embeds = ctx.scorer.embed_suffix()
    _, grads = row_gradients(ctx, embeds)
    scores = (grads[:, 0] * embeds[0]).sum(-1)  # [R, S]
    return _per_feature(ctx, scores, "sum"), {}


def _nodes(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Points α in [0, 1] and weights summing to 1."""
    if rule == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return (x + 1) / 2, w / 2
    alphas = np.linspace(0.0, 1.0, steps)
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] /= 2
    return alphas, weights


def integrated_gradients(
    ctx: Context, steps: int = 50, baseline: str = "zero", rule: str = "gausslegendre"
) -> tuple[np.ndarray, dict[str, Any]]:
    x = ctx.scorer.embed_suffix()[0]  # [S, D]
    mask = torch.zeros(x.shape[0], 1, dtype=x.dtype)
    for positions in _local(ctx):
        mask[positions] = 1.0
    if baseline == "zero":
        base_vec = torch.zeros_like(x)
    else:
        token = baseline_token(ctx.lm, baseline)
        base_vec = ctx.lm.embed(torch.tensor([token])).detach().expand_as(x)
    x0 = x * (1 - mask) + base_vec * mask  # only attributed features move
    alphas, weights = _nodes(steps, rule)
    width = x.shape[0] + max(len(ctx.spec.ids), len(ctx.spec.foil_ids or [])) - 1
    chunk = max(1, ctx.scorer.grad_batch_tokens // max(width, 1))
    total = torch.zeros(ctx.scorer.n_rows, *x.shape, dtype=torch.float64)
    for start in range(0, steps, chunk):
        a = torch.tensor(alphas[start : start + chunk], dtype=x.dtype).view(-1, 1, 1)
        w = torch.tensor(weights[start : start + chunk], dtype=torch.float64).view(1, -1, 1, 1)
        _, grads = row_gradients(ctx, x0 + a * (x - x0))
        total += (grads.double() * w).sum(1)
        ctx.report(min(start + chunk, steps), steps)
    token_scores = (total * (x - x0).double()).sum(-1)  # [R, S]
    scores = _per_feature(ctx, token_scores, "sum")
    with torch.no_grad():
        ends = ctx.scorer.score_embeds(torch.stack([x, x0])).double()
    delta = (ends[0] - ends[1]).numpy()
    residual = np.abs(scores.sum(1) - delta) / np.maximum(np.abs(delta), 1e-12)
    meta = {
        "completeness_residual": float(residual[-1]),
        "completeness_residual_rows": residual.tolist(),
        "f_input": ends[0].tolist(),
        "f_baseline": ends[1].tolist(),
    }
    return scores, meta


SALIENCY = MethodSpec(
    name="saliency",
    description="Gradient norm: how sensitive the target is to each input token's embedding.",
    fn=saliency,
    signed=False,
)
GRAD_X_INPUT = MethodSpec(
    name="grad_x_input",
    description="Gradient × input: first-order estimate of each token's contribution.",
    fn=grad_x_input,
)
INTEGRATED_GRADIENTS = MethodSpec(
    name="integrated_gradients",
    description="Integrated gradients from a baseline embedding; satisfies completeness (residual reported).",
    fn=integrated_gradients,
    params=(
        Param("steps", "int", 50, "Points on the path from the baseline to the input.", min=2, max=2048),
        Param("baseline", "str", "zero", "Baseline embedding: zero, or a token (pad, unk, eos, id, string)."),
        Param("rule", "str", "gausslegendre", "Quadrature rule.", choices=("gausslegendre", "trapezoid")),
    ),
)
