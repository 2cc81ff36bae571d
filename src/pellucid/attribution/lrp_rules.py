"""LRP rules as modified gradients: gradient × input of the patched graph *is* the relevance.

Relevance ``R`` of a tensor ``x`` is written ``R = x ⊙ g`` where ``g`` is the (modified)
gradient of the explained logit. Each rule below changes only how ``g`` flows backwards through
one kind of module; the forward values are untouched (every function returns exactly the output
the module computed). With ``R_out = y ⊙ g_out``:

- **ε-rule** (linear layers ``z = Wx + b``): ``R_in,i = Σ_j x_i W_ji R_j / (z_j + ε·sign z_j)``,
  i.e. ``g_out`` is scaled by ``z / (z + ε·sign z)`` before the ordinary linear backward. With
  ``ε = 0`` this is plain gradient × input (LRP-0); the bias keeps its share ``b_j g_j``.
- **identity rule** (elementwise activations, AttnLRP eq. 9): ``R_in = R_out``, so
  ``g_in = g_out · y / x`` (the activation acts as a gate on its own input).
- **constant normalisation** (CP-LRP, Ali et al. 2022; also AttnLRP): RMSNorm ``y = w ⊙ x / rms(x)``
  with ``rms`` held constant is elementwise linear, so relevance passes through unchanged
  (``g_in = g_out · y / x``, the same form as the identity rule); LayerNorm with its standard
  deviation held constant leaves the centring ``x − mean(x)``, a linear map, and the bias.
- **uniform rule** (products, AttnLRP eq. 7): ``y = a ⊙ b`` gives each factor half:
  ``R_a = R_b = R_y / 2`` — the ordinary product gradient, halved.
- **softmax rule** (AttnLRP prop. 3.1): ``R_i = x_i (R_i − s_i Σ_j R_j)``, which is exactly the
  ordinary gradient of the softmax times its input — nothing to patch.

Attention ``softmax(q kᵀ / √d) v`` is two products: ``q kᵀ`` and ``A v``. Under AttnLRP the uniform
rule halves the gradient into ``A`` and into ``v``, and again into ``q`` and ``k``, so ``q`` and
``k`` receive ``1/4`` of the ordinary gradient and ``v`` ``1/2`` — applied at the projections that
produce them (everything between is linear in the gradient). Under CP-LRP the attention
probabilities are constants: ``q`` and ``k`` get no gradient and ``v`` all of it. Likewise in a
gated MLP ``act(gate) ⊙ up`` AttnLRP halves both factors, CP-LRP holds the gate constant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from pellucid.models.relevance import OutputFn, RelevanceLayout, replace_outputs

VARIANTS: tuple[str, ...] = ("attnlrp", "cp-lrp")

#: gradient scale of (query, key, value) under each variant
ATTENTION_SCALES: dict[str, tuple[float, float, float]] = {"attnlrp": (0.25, 0.25, 0.5), "cp-lrp": (0.0, 0.0, 1.0)}
#: gradient scale of (activation output, up projection) in a gated MLP
GATE_SCALES: dict[str, tuple[float, float]] = {"attnlrp": (0.5, 0.5), "cp-lrp": (0.0, 1.0)}


def _ratio(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y / x``, with 0 where ``x == 0`` (a zero input carries no relevance)."""
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.zeros_like(y), y / safe)


class PassThrough(torch.autograd.Function):
    """Forward: the already computed ``y = f(x)``. Backward: ``g_x = scale · g_y · y / x``.

    Gradient × input then gives ``x · g_x = scale · y · g_y``: the input receives ``scale`` times
    the output's relevance (identity rule, constant-denominator RMSNorm, a gated factor).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(x, y)
        ctx.scale = scale
        return y.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        x, y = ctx.saved_tensors
        if ctx.scale == 0:
            return torch.zeros_like(x), None, None
        return (ctx.scale * grad * _ratio(y, x)).to(x.dtype), None, None


class ScaleGradient(torch.autograd.Function):
    """Forward: ``z`` unchanged. Backward: ``g · scale · z / (z + ε·sign z)`` (ε-rule and uniform splits).

    ``scale`` is a number or a tensor broadcasting against ``z`` (per output feature).
    """

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, scale: float | torch.Tensor, epsilon: float) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.scale, ctx.epsilon = scale, epsilon
        return z.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (z,) = ctx.saved_tensors
        out = grad * ctx.scale
        if ctx.epsilon > 0:
            sign = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
            out = out * (z / (z + ctx.epsilon * sign))
        return out.to(z.dtype), None, None


class LayerNormRule(torch.autograd.Function):
    """LayerNorm with its standard deviation held constant: ``y = (x − mean x) · w / σ + b``.

    Backward: ``g_c = g · w / σ`` then the transpose of the centring, ``g_x = g_c − mean(g_c)``.
    Relevance is conserved except for the bias's share ``b ⊙ g``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, module: nn.LayerNorm) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.module = module
        return y.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        module: nn.LayerNorm = ctx.module
        dims = tuple(range(-len(module.normalized_shape), 0))
        xf = x.float()
        sigma = torch.sqrt(xf.var(dim=dims, unbiased=False, keepdim=True) + module.eps)
        g = grad.float() / sigma
        if module.weight is not None:
            g = g * module.weight.float()
        return (g - g.mean(dim=dims, keepdim=True)).to(x.dtype), None, None


def _pass_through(scale: float) -> OutputFn:
    def fn(_module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return PassThrough.apply(x, y, scale)

    return fn


def _scale(scale: float | torch.Tensor, epsilon: float) -> OutputFn:
    def fn(_module: nn.Module, _x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        value = scale.to(device=z.device, dtype=z.dtype) if isinstance(scale, torch.Tensor) else scale
        return ScaleGradient.apply(z, value, epsilon)

    return fn


def _layer_norm(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return LayerNormRule.apply(x, y, module)


def rule_hooks(layout: RelevanceLayout, variant: str, epsilon: float) -> list[tuple[nn.Module, OutputFn]]:
    """Every ``(module, output function)`` that turns the model's backward pass into LRP."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown LRP variant {variant!r}")
    pairs: list[tuple[nn.Module, OutputFn]] = []
    if epsilon > 0:
        pairs += [(m, _scale(1.0, epsilon)) for m in layout.linears]
    pairs += [(m, _pass_through(1.0)) for m in layout.rms_norms]
    pairs += [(m, _layer_norm) for m in layout.layer_norms]
    act_scale, up_scale = GATE_SCALES[variant] if layout.gated else (1.0, 1.0)
    pairs += [(m, _pass_through(act_scale)) for m in layout.activations]
    pairs += [(m, _scale(up_scale, 0.0)) for m in layout.gate_partners if up_scale != 1.0]
    q, k, v = ATTENTION_SCALES[variant]
    for proj, roles in layout.attention_inputs:
        per_feature = torch.tensor([q, k, v])[roles]
        pairs.append((proj, _scale(per_feature, 0.0)))
    return pairs


@contextmanager
def lrp_rules(layout: RelevanceLayout, variant: str = "attnlrp", epsilon: float = 1e-6) -> Iterator[None]:
    """Inside the block, gradient × input of the model is the LRP relevance; outside, nothing changed.

    This attaches the rules without taking the model's lease: use it only on a model no other thread
    runs (tests, notebooks). Shared models take ``lm.replace_outputs(rule_hooks(...))``, as :mod:`.lrp` does.
    """
    with replace_outputs(rule_hooks(layout, variant, epsilon)):
        yield
