"""Reuse the key/value cache of a shared prefix across a batch of continuations.

Perturbation methods score many inputs that agree on their first ``m`` tokens (the chat
header before the user's message; everything before the first perturbed position). The keys
and values of those ``m`` tokens are computed once; each batch then runs only the remaining
positions on top of a copy of that cache expanded to the batch size. Causal attention makes
this exact: a position never depends on later ones.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class PrefixCache:
    """Keys and values of one prefix, per layer (``[1, kv_heads, m, d_head]`` each)."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    length: int

    @classmethod
    def from_output(cls, out: Any, length: int) -> PrefixCache:
        """The keys and values a forward pass with ``use_cache=True`` returned, for its ``length`` positions.

        Build one with :meth:`LM.prefix_cache <pellucid.models.lm.LM.prefix_cache>`, which runs the
        pass under the model's lease.
        """
        return cls([(layer.keys, layer.values) for layer in output_cache(out).layers], length)

    def expanded(self, batch: int, upto: int, config: Any) -> Any:
        """A fresh ``DynamicCache`` holding the first ``upto`` positions, repeated ``batch`` times."""
        from transformers import DynamicCache

        if upto > self.length:
            raise ValueError(f"cache holds {self.length} positions, asked for {upto}")
        data = [
            (k[:, :, :upto].expand(batch, -1, -1, -1), v[:, :, :upto].expand(batch, -1, -1, -1)) for k, v in self.layers
        ]
        return DynamicCache(ddp_cache_data=data, config=config)


def cache_keyword(model: Any) -> str:
    """The name under which ``model.forward`` takes a KV cache.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name still works, with a
    deprecation warning, until its removal); Pellucid passes whichever the installed version reads.
    """
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def output_cache(out: Any) -> Any:
    """The KV cache of a model output, under its new (``cache``) or old (``past_key_values``) name."""
    cache = out.get("cache") if hasattr(out, "get") else None
    return cache if cache is not None else out.past_key_values
