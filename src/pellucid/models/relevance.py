"""Where relevance-propagation rules attach in each model family, and how they are attached.

Layer-wise relevance propagation (:mod:`pellucid.attribution.lrp`) changes only the *backward*
pass of a model: a few kinds of module get a modified gradient, so that gradient × input of the
modified graph equals the LRP relevance. This module knows which Hugging Face modules play which
part (the rules themselves live in :mod:`pellucid.attribution.lrp_rules`):

- **linear** layers (``nn.Linear``, GPT-2's ``Conv1D``, including the unembedding): ε-rule;
- **norms** — RMSNorm (any class named ``*RMSNorm``) and ``nn.LayerNorm``: the normalisation
  factor is held constant;
- **activations** (SiLU, GELU, ... modules of each MLP): identity rule; in a *gated* MLP
  (``down(act(gate(x)) * up(x))``) the activation output and the up projection are the two factors
  of a product (uniform rule);
- **attention inputs**: the projection(s) producing queries, keys and values, with the role of each
  output feature (0 query, 1 key, 2 value), so the rules for ``softmax(q·kᵀ)·v`` can be applied
  at the projections, whatever attention implementation (eager, sdpa) runs in between;
- **position embeddings** added to the token embeddings (GPT-2), which absorb relevance.

:func:`replace_outputs` attaches output-rewriting forward hooks and removes them in ``finally``;
on a shared model call it through ``LM.replace_outputs``, which holds the model's exclusive lease.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from pellucid.errors import InvalidInputError

#: ``config.model_type`` values whose every nonlinearity is covered by the roles below.
LRP_MODEL_TYPES: tuple[str, ...] = ("llama", "mistral", "qwen2", "qwen3", "gpt2", "gpt_neox")

#: fn(module, input, output) -> replacement output
OutputFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class RelevanceLayout:
    """The modules of one model grouped by the LRP rule they need."""

    family: str
    linears: list[nn.Module] = field(default_factory=list)
    rms_norms: list[nn.Module] = field(default_factory=list)
    layer_norms: list[nn.LayerNorm] = field(default_factory=list)
    activations: list[nn.Module] = field(default_factory=list)
    #: in gated MLPs, the up projection multiplied with each activation output (same order)
    gate_partners: list[nn.Module] = field(default_factory=list)
    #: (projection, role per output feature: 0 query, 1 key, 2 value)
    attention_inputs: list[tuple[nn.Module, torch.Tensor]] = field(default_factory=list)
    position_embedding: nn.Module | None = None

    @property
    def gated(self) -> bool:
        return bool(self.gate_partners)


def _is_linear(module: nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, nn.Linear | Conv1D)


def _out_features(module: nn.Module) -> int:
    weight = cast(torch.Tensor, module.weight)  # nn.Linear or GPT-2's Conv1D: a tensor, not a submodule
    return int(weight.shape[0] if isinstance(module, nn.Linear) else weight.shape[1])


def relevance_layout(model: nn.Module, model_type: str) -> RelevanceLayout:
    """Group ``model``'s modules by rule; unsupported families raise an error naming the supported ones."""
    if model_type not in LRP_MODEL_TYPES:
        raise InvalidInputError(
            f"LRP is not available for {model_type!r} models; it supports {', '.join(LRP_MODEL_TYPES)} "
            "(each nonlinearity of a family needs its rule). Use grad_x_input or integrated_gradients instead."
        )
    family = "llama" if model_type not in ("gpt2", "gpt_neox") else model_type
    layout = RelevanceLayout(family=family)
    for module in model.modules():
        if _is_linear(module):
            layout.linears.append(module)
        elif isinstance(module, nn.LayerNorm):
            layout.layer_norms.append(module)
        elif type(module).__name__.endswith("RMSNorm"):
            layout.rms_norms.append(module)
    blocks: Any  # an nn.ModuleList of Hugging Face blocks, whose parts are reached by attribute name
    if family == "llama":
        blocks = model.get_submodule("model.layers")
        for block in blocks:
            attn, mlp = block.self_attn, block.mlp
            for role, proj in enumerate((attn.q_proj, attn.k_proj, attn.v_proj)):
                layout.attention_inputs.append((proj, torch.full((_out_features(proj),), role)))
            layout.activations.append(mlp.act_fn)
            layout.gate_partners.append(mlp.up_proj)
    elif family == "gpt2":
        layout.position_embedding = model.get_submodule("transformer.wpe")
        blocks = model.get_submodule("transformer.h")
        for block in blocks:
            width = _out_features(block.attn.c_attn) // 3  # c_attn(x).split(d_model) -> q, k, v
            layout.attention_inputs.append((block.attn.c_attn, torch.arange(3 * width) // width))
            layout.activations.append(block.mlp.act)
    else:  # gpt_neox: query_key_value(x).view(..., heads, 3 * d_head).chunk(3) -> per head [q | k | v]
        blocks = model.get_submodule("gpt_neox.layers")
        for block in blocks:
            d_head = block.attention.head_size
            width = _out_features(block.attention.query_key_value)
            roles = (torch.arange(width) % (3 * d_head)) // d_head
            layout.attention_inputs.append((block.attention.query_key_value, roles))
            layout.activations.append(block.mlp.act)
    for act in layout.activations:
        if not isinstance(act, nn.Module):
            raise InvalidInputError(
                f"The MLP activation of this {model_type} model is not a module; LRP cannot wrap it."
            )
    return layout


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    raise RuntimeError("module called without a tensor input")


@contextmanager
def replace_outputs(pairs: Sequence[tuple[nn.Module, OutputFn]]) -> Iterator[None]:
    """For the ``with`` block, each module's output ``y`` becomes ``fn(module, x, y)`` (``x`` its first input).

    Several functions on one module apply in the order given. Every hook is removed on exit,
    after a normal end and after an exception alike.
    """
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def make(fn: OutputFn) -> Callable[..., Any]:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
            if not isinstance(output, torch.Tensor):
                raise RuntimeError(f"{type(module).__name__} returned {type(output).__name__}, not a tensor")
            return fn(module, _first_tensor(args, kwargs), output)

        return hook

    try:
        for module, fn in pairs:
            handles.append(module.register_forward_hook(make(fn), with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
