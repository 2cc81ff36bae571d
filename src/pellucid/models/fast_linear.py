"""Linear layers on the CPU through oneDNN's kernels instead of the BLAS default.

Nearly all of a transformer's arithmetic is in its linear layers. PyTorch's CPU wheels send an
fp32 ``nn.Linear`` to MKL's ``sgemm``; the same wheels also carry oneDNN, whose matrix-product
kernels use the full width of AVX-512 whatever the CPU's vendor. On the 2-core AVX-512 AMD
EPYC this project is developed on, for the shapes of SmolLM2's layers (``[M, 576] × [576, 576]``,
``[576, 1536]``, ``[1536, 576]``, ``M`` = 128–2,048 tokens), MKL runs at 165–195 GFLOPS and
oneDNN at 335–425 GFLOPS (``benchmarks/bench_kernels.py``): forward passes over many tokens — every
perturbation method, integrated gradients, batch scoring — take about half the time, and
generation and sentence embeddings gain 1.5–1.7×.

The arithmetic stays fp32 (oneDNN's strict fp32 mode: no bf16 or tf32 down-conversion); results
differ from MKL's only in summation order, ~1e-6 relative.

:func:`accelerate` switches a model's ``nn.Linear`` modules to :class:`FastLinear` in place. It
is an ``nn.Linear`` in every other respect — same parameters, state dict, hooks — so everything
that reads, hooks or patches linear layers is unaffected; it takes the oneDNN path only for fp32
inputs on the CPU with frozen weights, and falls back to ``F.linear`` otherwise (GPU, half
precision, trainable weights). Gradients with respect to the input (every gradient method, LRP)
flow through a small autograd function whose backward is one more oneDNN product.
:func:`restore` switches them back. ``PELLUCID_FAST_KERNELS=0`` turns the whole thing off.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def available() -> bool:
    """Whether this PyTorch build has oneDNN's linear kernel and the CPU has AVX-512 (where it was measured)."""
    if not torch.backends.mkldnn.is_available():
        return False
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512",):
        return False
    return hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` by oneDNN; ``weight`` may be a strided view (e.g. a transpose)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _LinearFunction(torch.autograd.Function):
    """``x @ Wᵀ + b`` with a gradient for ``x`` only (the weights are frozen)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return _product(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (weight,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        # dL/dx = dL/dy · W, i.e. a linear layer whose weight is Wᵀ (a view: no copy).
        return _product(grad.contiguous(), weight.t(), None), None, None


def _eligible(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """fp32 CPU input of at least 2 dimensions, frozen dense fp32 weight and bias."""
    frozen_fp32 = all(
        p.dtype == torch.float32 and not p.requires_grad and not p.is_sparse for p in (weight, bias) if p is not None
    )
    return x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() >= 2 and frozen_fp32


class FastLinear(nn.Linear):
    """An ``nn.Linear`` whose fp32 CPU forward (and input gradient) runs on oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight, self.bias
        if not _eligible(x, weight, bias):
            return F.linear(x, weight, bias)
        if torch.is_grad_enabled() and x.requires_grad:
            return _LinearFunction.apply(x, weight, bias)
        return _product(x, weight, bias)


def accelerate(model: nn.Module) -> int:
    """Switch every plain ``nn.Linear`` of ``model`` to :class:`FastLinear` in place; returns how many.

    Does nothing (returns 0) where oneDNN's kernel is not available. Subclasses of ``nn.Linear``
    (quantised or adapter layers) are left alone: their forward is their own.
    """
    if not available():
        return 0
    switched = 0
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = FastLinear
            switched += 1
    return switched


def restore(model: nn.Module) -> int:
    """Undo :func:`accelerate`: every :class:`FastLinear` becomes a plain ``nn.Linear`` again."""
    restored = 0
    for module in model.modules():
        if type(module) is FastLinear:
            module.__class__ = nn.Linear  # type: ignore[assignment]
            restored += 1
    return restored


def accelerated(model: nn.Module) -> bool:
    """Whether any linear layer of ``model`` runs on oneDNN."""
    return any(type(m) is FastLinear for m in model.modules())
