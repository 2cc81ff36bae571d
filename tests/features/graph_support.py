"""Tiny transcoders for the graph tests, and a tiny model whose MLPs *are* transcoders (error exactly zero)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from pellucid.features.graph.transcoders import TranscoderSet


def random_transcoder(
    lm, layer: int, seed: int, d_sae: int = 48, k: int = 4, model: str | None = None, skip: bool = False
):
    config = DictionaryConfig(
        "topk", lm.d_model, d_sae, k, f"blocks.{layer}.mlp.in", model or lm.name, lm.version,
        site_out=f"blocks.{layer}.mlp.out", d_out=lm.d_model, skip=skip,
    )  # fmt: skip
    transcoder = SparseDictionary(config)
    g = torch.Generator().manual_seed(seed + layer)
    with torch.no_grad():
        for p in transcoder.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        transcoder.threshold.zero_()
        if transcoder.W_skip is not None:
            transcoder.W_skip.div_(lm.d_model**0.5)  # a skip map of about unit gain
    return transcoder


def random_transcoders(lm, seed: int = 0, **options) -> TranscoderSet:
    return TranscoderSet({layer: random_transcoder(lm, layer, seed, **options) for layer in range(lm.n_layers)}, "tc")


class TranscoderMLP(nn.Module):
    """An MLP that computes exactly what a transcoder computes: ``W_dec``-decode the sparse code of ``x``."""

    def __init__(self, transcoder: SparseDictionary) -> None:
        super().__init__()
        self.transcoder = transcoder
        self.down_proj = nn.Identity()  # the ``mlp.out`` site's module (Llama's path mlp.down_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.transcoder(x))


def exact_model(folder: Path, home: Path, seed: int = 0, **options):
    """A fresh tiny Llama whose every MLP is replaced by a transcoder, and those transcoders."""
    from pellucid.models import LM
    from pellucid.settings import Settings
    from tests.support.tiny import save_tiny

    lm = LM.load(str(save_tiny(folder, "llama", chat=False)), Settings(home=home))
    transcoders = random_transcoders(lm, seed, **options)
    for layer, block in enumerate(lm.model.model.layers):
        block.mlp = TranscoderMLP(transcoders[layer])
    return lm, transcoders


def save_transcoders(transcoders: TranscoderSet, out: Path) -> Path:
    from pellucid.features import saelens_format

    for layer in transcoders.layers:
        saelens_format.save(transcoders[layer], out / f"layer_{layer}")
    return out
