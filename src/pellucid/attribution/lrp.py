"""Layer-wise relevance propagation (LRP) for transformers, in one backward pass per target row.

LRP distributes the explained output backwards layer by layer, each layer handing its
relevance to its inputs by a *rule*, so that (up to what biases and the softmax absorb) the
relevance of the input tokens sums to the output. Two variants:

- ``attnlrp`` (default; Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-Wise Relevance
  Propagation for Transformers"): ε-rule for linear layers, identity rule for elementwise
  activations, uniform (50/50) rule for products — the gated MLP ``act(gate) ⊙ up``, ``q·kᵀ`` and
  ``softmax·v`` — the softmax rule, and constant normalisation factors in RMSNorm/LayerNorm.
- ``cp-lrp`` (Ali et al. 2022, "XAI for Transformers: Better Explanations through Conservative
  Propagation"): attention probabilities and normalisation factors are constants, so relevance
  reaches tokens only through the values; the MLP gate is a constant too (as in the ``lxt``
  library). Without biases and with ``ε = 0`` CP-LRP is exactly conservative.

It runs on the ordinary Hugging Face model: :func:`~pellucid.attribution.lrp_rules.rule_hooks`
wraps module outputs with functions whose forward returns the very same tensor values and whose
backward implements the rule (see that module for the algebra), so gradient × input of the
modified graph is the relevance. The rules are attached through ``LM.replace_outputs``, under the
model's exclusive lease: no other thread's forward pass runs through the rewritten modules.
Relevance of a token is the sum over the embedding dimensions of the relevance at the embedding
output; features sum their tokens.

**What is explained.** LRP explains a *logit*: the target token's logit (minus the foil's for
contrastive explanations), whatever ``target_kind`` is chosen — the log-probability is not a
quantity LRP can distribute conservatively. ``meta["explained"]`` says so, and
``meta["explained_values"]`` holds the logits. The whole prompt (chat template included) and the
teacher-forced continuation are differentiated, with no key/value cache, so every path is traced:
``meta["conservation_residual"]`` is ``|Σ relevance − logit| / |logit|`` for the sequence row,
where the sum covers every input position (and GPT-2's position embeddings). What remains is what
biases, ε and (AttnLRP only) the softmax rule absorb; ``meta["relevance_outside_features"]`` is the
part landing on the template, system prompt and continuation, which features do not show.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from pellucid.attribution.base import Context, MethodSpec, Param
from pellucid.attribution.engine import combine_rows, token_values
from pellucid.attribution.lrp_rules import VARIANTS, rule_hooks
from pellucid.models import LM
from pellucid.models.relevance import RelevanceLayout, relevance_layout


class _Captured:
    """Position-embedding outputs made differentiable, so the relevance they absorb is measured."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []

    def __call__(self, _module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        leaf = y.detach().requires_grad_(True)
        self.tensors.append(leaf)
        return leaf


def _sequence_logits(ctx: Context, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(embeds [1, P + T - 1, D] (leaf), logits of ids [1, T])`` for prompt + ids[:-1]."""
    lm = ctx.lm
    full = torch.tensor([ctx.scorer.prompt_ids + ids[:-1]], device=lm.device)
    embeds = lm.embed(full).detach().requires_grad_(True)
    ctx.scorer.forward_passes += 1
    logits = lm.forward(inputs_embeds=embeds, logits_to_keep=len(ids)).logits
    return embeds, token_values(logits, ids, "logit")


def relevance_rows(
    ctx: Context, layout: RelevanceLayout, variant: str, epsilon: float
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """LRP relevance of every input position for every row of ``F`` (logits).

    Returns ``(prompt [R, P], values [R], extra)``: relevance of each prompt position, the explained
    logit rows, and per row the relevance on the continuation tokens and position embeddings.
    """
    spec = ctx.spec
    captured = _Captured()
    pairs = [(layout.position_embedding, captured)] if layout.position_embedding is not None else []
    n_prompt = len(ctx.scorer.prompt_ids)
    with ctx.lm.replace_outputs([*pairs, *rule_hooks(layout, variant, epsilon)]), torch.enable_grad():
        embeds, target = _sequence_logits(ctx, spec.ids)
        leaves, foil = [embeds], None
        if spec.foil_ids:
            foil_embeds, foil = _sequence_logits(ctx, spec.foil_ids)
            leaves.append(foil_embeds)
        values = combine_rows(target, foil, "logit")[0]  # [R]
        n_rows = values.shape[0]
        summed = not spec.contrastive or spec.per_token_contrast  # sequence row = sum of token rows
        todo = n_rows - 1 if summed else n_rows
        prompt = torch.zeros(n_rows, n_prompt, dtype=torch.float64)
        continuation = torch.zeros(n_rows, dtype=torch.float64)
        positional = torch.zeros(n_rows, dtype=torch.float64)
        inputs = [*leaves, *captured.tensors]
        for r in range(todo):
            grads = torch.autograd.grad(values[r], inputs, retain_graph=r < todo - 1, allow_unused=True)
            for leaf, grad in zip(leaves, grads[: len(leaves)]):
                if grad is None:
                    continue
                per_position = (grad[0].double() * leaf[0].detach().double()).sum(-1)
                prompt[r] += per_position[:n_prompt].cpu()
                continuation[r] += per_position[n_prompt:].sum().cpu()
            for leaf, grad in zip(captured.tensors, grads[len(leaves) :]):
                if grad is not None:
                    positional[r] += (grad.double() * leaf.detach().double()).sum().cpu()
            ctx.report(r + 1, todo)
        if summed:
            prompt[-1], continuation[-1], positional[-1] = (
                prompt[:-1].sum(0),
                continuation[:-1].sum(),
                positional[:-1].sum(),
            )
    extra = {"continuation": continuation, "positional": positional, "backward_passes": todo}
    return prompt, values.detach().double().cpu(), extra


def token_relevance(
    lm: LM, ids: list[int], target_id: int, variant: str = "attnlrp", epsilon: float = 1e-6
) -> tuple[torch.Tensor, float]:
    """LRP relevance ``[L]`` of each position of ``ids`` for the logit of ``target_id`` after them.

    The bare computation behind :func:`lrp`, for one sequence and one logit (no chat template,
    no features): returns ``(relevance, logit)``.
    """
    layout = relevance_layout(lm.model, lm.model_type)
    with lm.replace_outputs(rule_hooks(layout, variant, epsilon)), torch.enable_grad():
        embeds = lm.embed(torch.tensor([ids], device=lm.device)).detach().requires_grad_(True)
        logit = lm.forward(inputs_embeds=embeds, logits_to_keep=1).logits[0, -1, target_id]
        (grad,) = torch.autograd.grad(logit, embeds)
    return (grad[0].double() * embeds[0].detach().double()).sum(-1).cpu(), float(logit.detach())


def lrp(ctx: Context, variant: str = "attnlrp", epsilon: float = 1e-6) -> tuple[np.ndarray, dict[str, Any]]:
    """Relevance ``[R, F]`` of each feature for each row's logit, with the conservation check in meta."""
    started = time.perf_counter()
    layout = relevance_layout(ctx.lm.model, ctx.lm.model_type)
    prompt, values, extra = relevance_rows(ctx, layout, variant, epsilon)
    scores = np.zeros((prompt.shape[0], ctx.n_features))
    for f, positions in enumerate(ctx.units.feature_positions):
        scores[:, f] = prompt[:, positions].sum(1).numpy()
    total = prompt.sum(1) + extra["continuation"] + extra["positional"]
    residual = ((total - values).abs() / values.abs().clamp_min(1e-12)).numpy()
    spec = ctx.spec
    explained = "logit − foil logit" if spec.contrastive else "logit"
    meta: dict[str, Any] = {
        "explained": explained,
        "explained_note": (
            f"LRP explains the {explained} of each target token, not the {spec.kind} asked for."
            if spec.kind != "logit"
            else f"LRP explains the {explained} of each target token."
        ),
        "explained_values": values.tolist(),
        "relevance_sum": total.tolist(),
        "conservation_residual": float(residual[-1]),
        "conservation_residual_rows": residual.tolist(),
        "relevance_outside_features": (total - torch.from_numpy(scores.sum(1))).tolist(),
        "relevance_positional": extra["positional"].tolist(),
        "family": layout.family,
        "backward_passes": extra["backward_passes"],
        "lrp_seconds": round(time.perf_counter() - started, 4),
    }
    return scores, meta


LRP = MethodSpec(
    name="lrp",
    description="Layer-wise relevance propagation (AttnLRP or CP-LRP) of the target logit, one backward pass per row.",
    fn=lrp,
    params=(
        Param(
            "variant",
            "str",
            "attnlrp",
            "attnlrp: uniform rule through attention and gates; cp-lrp: attention and gates held constant.",
            choices=VARIANTS,
        ),
        Param(
            "epsilon", "float", 1e-6, "Stabiliser of the ε-rule in linear layers (0 = LRP-0, conservative).", min=0.0
        ),
    ),
)
