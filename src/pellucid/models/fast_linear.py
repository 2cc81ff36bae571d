"""Linear layers on the CPU through oneDNN's kernels, where they are faster than the BLAS default.

Nearly all of a transformer's arithmetic is in its linear layers. PyTorch's x86 CPU wheels send an
fp32 ``nn.Linear`` to MKL's ``sgemm``; the same wheels also carry oneDNN. Which one is faster depends
on the CPU, not only on its instruction set (``benchmarks/bench_kernels.py``, figures per CPU in
``benchmarks/RESULTS.md``): on a 2-core AVX-512 AMD EPYC, for SmolLM2's layer shapes, MKL runs at
165–195 GFLOPS and oneDNN at 335–425 GFLOPS, so forward passes over many tokens take about half the
time; on a 2-core AVX-512 Intel Xeon MKL is as fast or faster (oneDNN 0.8–0.95× end to end), and with
only AVX2 oneDNN loses there too. So nothing is inferred from CPU flags: in the default ``auto`` mode
:func:`measured_gain` times both kernels once per process (~0.1 s) and oneDNN is used only where it wins
clearly (:data:`MIN_GAIN`).

The arithmetic stays fp32 (oneDNN's strict fp32 mode: no bf16 or tf32 down-conversion); results
differ from MKL's only in summation order, ~1e-6 relative.

:func:`accelerate` switches a model's ``nn.Linear`` modules to :class:`FastLinear` in place. It
is an ``nn.Linear`` in every other respect — same parameters, state dict, hooks — so everything
that reads, hooks or patches linear layers is unaffected; it takes the oneDNN path only for fp32
inputs on the CPU with frozen weights, and falls back to ``F.linear`` otherwise (GPU, half
precision, trainable weights). Gradients with respect to the input (every gradient method, LRP)
flow through a small autograd function whose backward is one more oneDNN product.
:func:`restore` switches them back. ``PELLUCID_FAST_KERNELS`` chooses the mode: ``auto`` (default),
``1`` (oneDNN wherever the kernel is present: how tests exercise this path on any CPU) or ``0`` (never).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: The setting's values: ``auto`` measures once per process whether oneDNN is faster here, ``on`` uses it
#: wherever the kernel is present, ``off`` never.
MODES = ("auto", "on", "off")

#: ``auto`` switches to oneDNN only when it is at least this much faster (a clear win, not timing noise).
MIN_GAIN = 1.15

#: The products ``auto`` times: a 128-token batch through a transformer block's three shapes (SmolLM2-like widths).
_CALIBRATION_SHAPES = ((128, 576, 576), (128, 576, 1536), (128, 1536, 576))


def kernel_present() -> bool:
    """Whether this PyTorch build carries oneDNN's fp32 linear kernel."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def cpu_capability() -> str:
    """The vector instruction set PyTorch's CPU kernels use here: ``AVX512``, ``AVX2``, ``DEFAULT``, ``SVE256``..."""
    return str(torch.backends.cpu.get_cpu_capability())


def _seconds(
    product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, w: torch.Tensor, loops: int = 3
) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        product(x, w)
    return time.perf_counter() - start


@functools.cache
def measured_gain() -> float:
    """How many times faster oneDNN's product is than PyTorch's default here (measured once per process).

    Which kernel wins depends on the CPU's vendor and generation, not only its instruction set: MKL, the
    default on x86 wheels, is fastest on recent Intel CPUs and far from it on AMD ones, where oneDNN is about
    twice as fast. So the choice is measured — best of three interleaved timings of each path on a block's
    shapes, ~0.1 s — never inferred from CPU flags. Returns 0.0 where the kernel is absent.
    """
    if not kernel_present():
        return 0.0
    generator = torch.Generator().manual_seed(0)
    pairs = [(torch.randn(m, k, generator=generator), torch.randn(n, k, generator=generator)) for m, k, n in
             _CALIBRATION_SHAPES]  # fmt: skip

    def onednn(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return _product(x, w, None)

    best = {"default": float("inf"), "onednn": float("inf")}
    with torch.no_grad():
        for x, w in pairs:  # warm-up: first-call allocations, oneDNN primitive creation
            F.linear(x, w), onednn(x, w)
        for _ in range(3):
            best["default"] = min(best["default"], sum(_seconds(F.linear, x, w) for x, w in pairs))
            best["onednn"] = min(best["onednn"], sum(_seconds(onednn, x, w) for x, w in pairs))
    return best["default"] / best["onednn"]


def resolve_mode(value: bool | str) -> str:
    """A mode from the setting: ``True`` means ``auto`` (use oneDNN where it pays), ``False`` means ``off``."""
    if isinstance(value, bool):
        return "auto" if value else "off"
    if value not in MODES:
        raise ValueError(f"fast kernel mode {value!r}; choose one of {', '.join(MODES)}")
    return value


def available(mode: bool | str = "auto") -> bool:
    """Whether :func:`accelerate` switches models to oneDNN under ``mode``.

    ``auto`` needs the kernel and a measured gain of at least :data:`MIN_GAIN` on this CPU; ``on`` needs only
    the kernel. Anything else (ARM without it, a build without oneDNN) keeps PyTorch's default path, which is
    always correct.
    """
    mode = resolve_mode(mode)
    if mode == "off" or not kernel_present():
        return False
    return mode == "on" or measured_gain() >= MIN_GAIN


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` by oneDNN; ``weight`` may be a strided view (e.g. a transpose)."""
    out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return out


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
            out: torch.Tensor = _LinearFunction.apply(x, weight, bias)  # type: ignore[no-untyped-call]
            return out
        return _product(x, weight, bias)


def accelerate(model: nn.Module, mode: bool | str = "auto") -> int:
    """Switch every plain ``nn.Linear`` of ``model`` to :class:`FastLinear` in place; returns how many.

    Does nothing (returns 0) where oneDNN is not :func:`available` under ``mode``. Subclasses of
    ``nn.Linear`` (quantised or adapter layers) are left alone: their forward is their own.
    """
    if not available(mode):
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
