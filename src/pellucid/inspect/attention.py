"""Attention: where each head looks, how focused it is, and how information flows overall.

- :func:`attention` returns the weights ``A[h, q, k]`` of chosen layers and heads: how
  much query position ``q`` reads from key position ``k``. Weights describe *where* a head
  looks, not how much that matters for the output (Jain & Wallace 2019, "Attention is not
  Explanation"); patching and direct logit attribution answer the second question.
- :func:`head_summary` gives one number per head — the mean entropy of its attention
  (low = focused, e.g. previous-token or induction heads; high = spread out) — with the
  share of attention to the first token (the "attention sink"), to the previous token, and
  to the query itself in ``meta``, as in Clark et al. 2019 ("What Does BERT Look At?").
- :func:`attention_rollout` (Abnar & Zuidema 2020, "Quantifying Attention Flow in
  Transformers") multiplies the head-averaged attention of every layer, each mixed half and
  half with the identity for the residual connection, to estimate how much each output
  position draws on each input token through all layers.

Patterns need the model loaded with eager attention (Pellucid's default). Choose layers to
keep long inputs fast: only the chosen layers' patterns are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from pellucid.inspect import _common as c
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt


def _patterns(lm: LM, enc: Encoding, layers: list[int]) -> dict[int, torch.Tensor]:
    """``{layer: [H, L, L]}`` attention weights (float32, no batch dimension)."""
    names = {layer: f"blocks.{layer}.attn.pattern" for layer in layers}
    cache = c.run_until(lm, c.as_ids(lm, enc), list(names.values()))
    return {layer: cache[name][0].float() for layer, name in names.items()}


def attention(
    lm: LM,
    prompt: Prompt,
    *,
    layers: int | Sequence[int] | None = None,
    heads: int | Sequence[int] | None = None,
    chat: bool | None = False,
) -> Explanation:
    """Attention weights over ``("head", "query", "key")``; heads are labelled ``L{layer}H{head}``.

    With several layers, their heads are stacked along the ``head`` axis.
    """
    watch = c.Stopwatch()
    enc = c.encode(lm, prompt, chat)
    layer_list = c.resolve_layers(lm, layers)
    head_list = c.resolve_heads(lm, heads)
    patterns = _patterns(lm, enc, layer_list)
    scores = torch.cat([patterns[layer][head_list] for layer in layer_list])
    tokens = c.position_labels(enc)
    return Explanation(
        scores=scores.cpu().numpy(),
        axes=("head", "query", "key"),
        labels={"head": [f"L{layer}H{h}" for layer in layer_list for h in head_list], "query": tokens, "key": tokens},
        method="attention",
        model=lm.name,
        kind="attention",
        signed=False,
        params={"layers": layer_list, "heads": head_list, "chat": chat},
        meta={
            "label_info": {"query": c.position_info(enc), "key": c.position_info(enc)},
            "forward_passes": 1,
            "seconds": watch.seconds(),
        },
    )


def head_summary(
    lm: LM,
    prompt: Prompt,
    *,
    layers: int | Sequence[int] | None = None,
    chat: bool | None = False,
) -> Explanation:
    """Mean attention entropy (nats) of every head over ``("layer", "head")``.

    ``meta`` adds, per layer and head, the mean weight on the first token, on the previous
    token and on the query itself, and each layer's mean entropy.
    """
    watch = c.Stopwatch()
    enc = c.encode(lm, prompt, chat)
    layer_list = c.resolve_layers(lm, layers)
    patterns = _patterns(lm, enc, layer_list)
    n = len(enc)
    entropy, first, previous, self_ = [], [], [], []
    for layer in layer_list:
        a = patterns[layer]  # [H, L, L]
        entropy.append(-(a * torch.log(a.clamp_min(1e-12))).sum(-1).mean(-1))
        first.append(a[:, :, 0].mean(-1))
        previous.append(a.diagonal(offset=-1, dim1=1, dim2=2).mean(-1) if n > 1 else torch.zeros(a.shape[0]))
        self_.append(a.diagonal(dim1=1, dim2=2).mean(-1))
    scores = torch.stack(entropy)
    return Explanation(
        scores=scores.cpu().numpy(),
        axes=("layer", "head"),
        labels={"layer": c.layer_labels(layer_list), "head": [f"H{h}" for h in range(lm.n_heads)]},
        method="attention_entropy",
        model=lm.name,
        kind="attention",
        signed=False,
        params={"layers": layer_list, "chat": chat},
        meta={
            "first_token": torch.stack(first).tolist(),
            "previous_token": torch.stack(previous).tolist(),
            "self": torch.stack(self_).tolist(),
            "layer_mean_entropy": scores.mean(-1).tolist(),
            "uniform_entropy": float(torch.log(torch.arange(1, n + 1).float()).mean()),
            "forward_passes": 1,
            "seconds": watch.seconds(),
        },
    )


def attention_rollout(
    lm: LM,
    prompt: Prompt,
    *,
    layers: int | Sequence[int] | None = None,
    residual: bool = True,
    chat: bool | None = False,
) -> Explanation:
    """Attention rollout over ``("query", "key")``: rows sum to 1.

    ``layers`` limits the product to those layers (default: all); ``residual=False`` drops
    the identity term (pure attention flow).
    """
    watch = c.Stopwatch()
    enc = c.encode(lm, prompt, chat)
    layer_list = sorted(c.resolve_layers(lm, layers))
    patterns = _patterns(lm, enc, layer_list)
    n = len(enc)
    rollout = torch.eye(n)
    for layer in layer_list:
        a = patterns[layer].mean(0).cpu()
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(n)
            a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout
    tokens = c.position_labels(enc)
    return Explanation(
        scores=rollout.numpy(),
        axes=("query", "key"),
        labels={"query": tokens, "key": tokens},
        method="attention_rollout",
        model=lm.name,
        kind="attention",
        signed=False,
        params={"layers": layer_list, "residual": residual, "chat": chat},
        meta={
            "label_info": {"query": c.position_info(enc), "key": c.position_info(enc)},
            "forward_passes": 1,
            "seconds": watch.seconds(),
        },
    )
