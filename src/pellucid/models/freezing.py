"""Freeze a model's attention patterns and normalisation scales for one prompt, so it becomes linear.

A transformer's residual stream passes through three kinds of nonlinearity: the MLPs, the
attention *patterns* (a softmax of queries against keys) and the normalisations (a division by
the vector's own size). An attribution graph replaces the MLPs by transcoders and holds the
other two at the values they took on the prompt. Then, from the token embeddings and the MLP
outputs to every later MLP input and to the logits, the model is affine: attention mixes the
values with fixed weights, and each norm multiplies by a fixed scale.

:class:`Freezer` does this with output-rewriting hooks (``LM.replace_outputs``, the model's
exclusive lease) on modules this module finds per family:

- **queries and keys**: the projections that produce them return the values recorded on the
  clean pass, so the pattern computed from them is a constant (in value and in gradient),
  whatever attention implementation runs in between. Values still flow through ``v`` and the
  output projection, which are linear.
- **norms** (RMSNorm, ``nn.LayerNorm``): with ``x_c, y_c, s_c`` the clean input, output and
  scale ``1/sqrt(mean(x²)+ε)`` (or of the variance, for LayerNorm), the frozen norm is
  ``y_c + J (x - x_c)`` with ``J = s_c · weight`` (after centring, for LayerNorm): equal to the
  real norm at the clean point, and affine around it.

:meth:`Freezer.capture` records the clean values in one forward; :meth:`Freezer.frozen` returns
the hooks of the frozen forward for a batch of ``batch`` copies of the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    from pellucid.models.lm import LM

OutputFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
#: families whose queries and keys this module can freeze
FREEZABLE_FAMILIES = ("llama", "gpt2", "gpt_neox")


@dataclass
class FrozenLayout:
    """The modules to freeze: norms (with their kind) and query/key projections (with a mask of q/k outputs)."""

    norms: list[tuple[nn.Module, str]] = field(default_factory=list)
    qk: list[tuple[nn.Module, torch.Tensor | None]] = field(default_factory=list)


def _weight_shape(module: nn.Module) -> tuple[int, ...]:
    weight = cast(torch.Tensor, module.weight)
    return tuple(int(n) for n in weight.shape)


def _qk_projections(attn: nn.Module, family: str) -> list[tuple[nn.Module, torch.Tensor | None]]:
    """The projection(s) producing queries and keys, and which output features are q or k (None: all)."""
    if family == "llama":
        return [(attn.get_submodule("q_proj"), None), (attn.get_submodule("k_proj"), None)]
    if family == "gpt2":
        proj = attn.get_submodule("c_attn")
        width = _weight_shape(proj)[1] // 3  # Conv1D: [d_in, 3 d_model] -> q | k | v
        return [(proj, torch.arange(3 * width) < 2 * width)]
    proj = attn.get_submodule("query_key_value")  # gpt_neox: per head [q | k | v]
    d_head = int(cast(int, attn.head_size))
    width = _weight_shape(proj)[0]
    return [(proj, (torch.arange(width) % (3 * d_head)) < 2 * d_head)]


def frozen_layout(lm: LM) -> FrozenLayout:
    """Find the norms and query/key projections of ``lm``; other families are refused with the supported ones."""
    family = lm.arch.family
    if family not in FREEZABLE_FAMILIES:
        raise InvalidInputError(
            f"Attribution graphs cannot freeze the attention of {lm.model_type!r} models (family {family!r}); "
            f"they support the families {', '.join(FREEZABLE_FAMILIES)}."
        )
    layout = FrozenLayout()
    for module in lm.model.modules():
        if isinstance(module, nn.LayerNorm):
            layout.norms.append((module, "layer"))
        elif type(module).__name__.endswith("RMSNorm"):
            layout.norms.append((module, "rms"))
    for layer in range(lm.n_layers):
        layout.qk.extend(_qk_projections(lm.site(f"blocks.{layer}.attn.pattern").module, family))
    return layout


def _eps(module: nn.Module) -> float:
    for name in ("variance_epsilon", "eps", "epsilon"):
        value = getattr(module, name, None)
        if isinstance(value, int | float):
            return float(value)
    return 1e-6


def _norm_scale(module: nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """``[..., 1]``: the factor a norm divides by, as a constant (float32)."""
    x = x.float()
    if kind == "rms":
        return torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + _eps(module))
    return torch.rsqrt(x.var(-1, keepdim=True, unbiased=False) + _eps(module))


def _weight(module: nn.Module) -> torch.Tensor | float:
    weight = getattr(module, "weight", None)
    return weight.detach().float() if isinstance(weight, torch.Tensor) else 1.0


@dataclass
class _Clean:
    x: torch.Tensor
    y: torch.Tensor
    scale: torch.Tensor | None = None


class Freezer:
    """Record a prompt's clean attention inputs and norm scales, then hand out the hooks that freeze them."""

    def __init__(self, lm: LM) -> None:
        self.lm = lm
        self.layout = frozen_layout(lm)
        self.clean: dict[int, _Clean] = {}

    def capture(self) -> list[tuple[nn.Module, OutputFn]]:
        """Read-only hooks that record each frozen module's clean input and output (run one forward with them)."""
        kinds = dict((id(m), kind) for m, kind in self.layout.norms)

        def record(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            kind = kinds.get(id(module))
            scale = _norm_scale(module, kind, x) if kind is not None else None
            self.clean[id(module)] = _Clean(x.detach(), y.detach(), scale)
            if kind is not None:
                self._check_norm(module, kind)
            return y

        fn: OutputFn = record
        return [(m, fn) for m, _ in self.layout.norms] + [(m, fn) for m, _ in self.layout.qk]

    def _check_norm(self, module: nn.Module, kind: str) -> None:
        """Refuse a norm whose output is not ``weight · normalised(x)`` (e.g. Gemma's ``1 + weight``)."""
        c = self.clean[id(module)]
        assert c.scale is not None
        x = c.x.float() - (c.x.float().mean(-1, keepdim=True) if kind == "layer" else 0.0)
        bias = getattr(module, "bias", None)
        mine = x * c.scale * _weight(module) + (bias.detach().float() if isinstance(bias, torch.Tensor) else 0.0)
        gap = float((mine - c.y.float()).abs().max())
        if gap > 1e-3 * max(float(c.y.float().abs().max()), 1.0):
            raise InvalidInputError(
                f"The norm {type(module).__name__} does not compute weight × x / scale (off by {gap:.3g}); "
                f"attribution graphs support the norms of the families {', '.join(FREEZABLE_FAMILIES)}."
            )

    def frozen(self, batch: int) -> list[tuple[nn.Module, OutputFn]]:
        """Hooks for a forward of ``batch`` copies of the captured prompt with patterns and scales frozen."""
        if not self.clean:
            raise RuntimeError("Freezer.frozen() needs the clean values: run a forward with capture() first.")
        pairs: list[tuple[nn.Module, OutputFn]] = []
        for module, kind in self.layout.norms:
            pairs.append((module, self._frozen_norm(module, kind)))
        for module, mask in self.layout.qk:
            pairs.append((module, self._frozen_qk(module, mask, batch)))
        return pairs

    def _frozen_norm(self, module: nn.Module, kind: str) -> OutputFn:
        c = self.clean[id(module)]
        assert c.scale is not None
        factor = c.scale * _weight(module)

        def norm(_module: nn.Module, x: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
            dx = x.float() - c.x.float()
            if kind == "layer":
                dx = dx - dx.mean(-1, keepdim=True)
            return (c.y.float() + dx * factor).to(c.y.dtype)

        return norm

    def _frozen_qk(self, module: nn.Module, mask: torch.Tensor | None, batch: int) -> OutputFn:
        c = self.clean[id(module)]
        fixed = c.y.expand(batch, *c.y.shape[1:]).contiguous()

        def qk(_module: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if mask is None:
                return fixed
            return torch.where(mask.to(y.device), fixed, y)

        return qk


def describe(layout: FrozenLayout) -> dict[str, Any]:
    """How many modules are frozen, by kind (for a result's provenance)."""
    return {"norms": len(layout.norms), "qk_projections": len(layout.qk)}
