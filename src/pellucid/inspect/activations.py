"""Activations: what each layer writes at each token, and what single neurons respond to.

A transformer's *residual stream* is the running sum every block reads from and writes to;
its norm per (layer, position) shows where large writes happen (the first token's stream
often grows huge — an "attention sink", Xiao et al. 2023). The MLP's hidden units
("neurons", ``mlp.post``) are the model's most fine-grained features; looking at the texts
that excite a neuron most is the classic way to guess what it detects (Karpathy et al.
2015 "Visualizing and Understanding Recurrent Networks"; Geva et al. 2021, "Transformer
Feed-Forward Layers Are Key-Value Memories"), with the caveat that most neurons are
polysemantic (Elhage et al. 2022, "Toy Models of Superposition").

Only the requested sites are cached, and forwards over many texts stop at the deepest
layer needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect.data import load_texts
from pellucid.inspect.features import batches, encode_texts
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

REDUCTIONS = ("norm", "mean", "max", "min")
ACTIVATION_SITES = (*c.STREAM_SITES, "mlp.post")


def _reduce(x: torch.Tensor, reduce: str) -> torch.Tensor:
    x = x.float()
    if reduce == "norm":
        return x.norm(dim=-1)
    return {"mean": x.mean(-1), "max": x.max(-1).values, "min": x.min(-1).values}[reduce]


def activations(
    lm: LM,
    prompt: Prompt,
    *,
    site: str = "resid_post",
    layers: int | Sequence[int] | None = None,
    reduce: str = "norm",
    chat: bool | None = False,
) -> Explanation:
    """One number per (layer, position): the activation at ``site`` reduced over its width.

    Args:
        site: ``resid_pre``, ``resid_post``, ``attn.out``, ``mlp.out`` or ``mlp.post`` (neurons).
        reduce: ``norm`` (L2), ``mean``, ``max`` or ``min`` over the hidden dimension.
    """
    watch = c.Stopwatch()
    site = c.check_site(site, ACTIVATION_SITES)
    c.check_choice("reduce", reduce, REDUCTIONS)
    enc = c.encode(lm, prompt, chat)
    layer_list = c.resolve_layers(lm, layers)
    names = [f"blocks.{layer}.{site}" for layer in layer_list]
    cache = c.run_until(lm, c.as_ids(lm, enc), names)
    scores = torch.stack([_reduce(cache[name][0], reduce) for name in names])
    return Explanation(
        scores=scores.cpu().numpy(),
        axes=("layer", "position"),
        labels={"layer": c.layer_labels(layer_list), "position": c.position_labels(enc)},
        method=f"activation_{reduce}",
        model=lm.name,
        kind="activations",
        signed=reduce != "norm",
        params={"site": site, "layers": layer_list, "reduce": reduce, "chat": chat},
        meta={"label_info": {"position": c.position_info(enc)}, "forward_passes": 1, "seconds": watch.seconds()},
    )


def top_neurons(
    lm: LM,
    prompt: Prompt,
    *,
    layers: int | Sequence[int] | None = None,
    position: int = -1,
    k: int = 10,
    by: str = "value",
    chat: bool | None = False,
) -> Explanation:
    """The ``k`` MLP neurons most active at one token (``position``, default the last).

    ``by="value"`` ranks by activation, ``"abs"`` by its magnitude. Returns scores over
    ``("neuron",)`` with labels ``"L{layer}.N{index}"``.
    """
    watch = c.Stopwatch()
    c.check_choice("by", by, ("value", "abs"))
    if k < 1:
        raise InvalidInputError(f"k={k}; ask for at least 1 neuron.")
    enc = c.encode(lm, prompt, chat)
    (pos,) = c.resolve_positions(len(enc), position)
    layer_list = c.resolve_layers(lm, layers)
    names = [f"blocks.{layer}.mlp.post" for layer in layer_list]
    cache = c.run_until(lm, c.as_ids(lm, enc), names)
    values = torch.stack([cache[name][0, pos].float() for name in names])  # [layers, N]
    key = values.abs() if by == "abs" else values
    top = key.flatten().topk(min(k, key.numel())).indices
    width = values.shape[1]
    picked = [(layer_list[int(i) // width], int(i) % width) for i in top]
    return Explanation(
        scores=values.flatten()[top].cpu().numpy(),
        axes=("neuron",),
        labels={"neuron": [f"L{layer}.N{index}" for layer, index in picked]},
        method="top_neurons",
        model=lm.name,
        kind="activations",
        signed=True,
        params={"layers": layer_list, "position": pos, "k": k, "by": by, "chat": chat},
        meta={
            "token": enc.tokens[pos],
            "neurons": [{"layer": layer, "index": index} for layer, index in picked],
            "forward_passes": 1,
            "seconds": watch.seconds(),
        },
    )


def _context(tokens: list[str], pos: int, width: int) -> str:
    before = "".join(tokens[max(0, pos - width) : pos])
    after = "".join(tokens[pos + 1 : pos + 1 + width // 2])
    return f"{before}«{tokens[pos]}»{after}"


def _checked_texts(
    texts: Sequence[str] | str | Path, k: int, text_column: str | None, limit: int | None
) -> Sequence[str]:
    """The texts (read from the file when given a path); ``k`` must ask for at least one example."""
    if k < 1:
        raise InvalidInputError(f"k={k}; ask for at least 1 example.")
    if isinstance(texts, (str, Path)):
        return load_texts(texts, text_column=text_column, limit=limit)
    return texts


def _neuron_activations(
    lm: LM, encodings: list[Encoding], layer: int, index: int, batch_size: int
) -> list[tuple[float, int, int]]:
    """``(activation, text index, position)`` of the neuron at every token outside chat-template
    tokens, highest activation first."""
    name = f"blocks.{layer}.mlp.post"
    found: list[tuple[float, int, int]] = []
    for items, cache in batches(lm, encodings, [name], batch_size):
        for row, i in enumerate(items):
            values = cache[name][row, : len(encodings[i]), index].float()
            found.extend((float(v), i, p) for p, v in enumerate(values) if encodings[i].segments[p] != "template")
    found.sort(key=lambda t: -t[0])
    return found


def top_activating_tokens(
    lm: LM,
    texts: Sequence[str] | str | Path,
    *,
    neuron: str | tuple[int, int],
    k: int = 20,
    context: int = 8,
    text_column: str | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    chat: bool | None = False,
) -> Explanation:
    """The tokens, over many texts, on which one MLP neuron fires most.

    Args:
        texts: a list of texts, or a path (``.txt`` one per line, or ``.csv``/``.tsv``/
            ``.jsonl``/``.conllu`` text column).
        neuron: ``"layer.index"`` (e.g. ``"3.512"``) or ``(layer, index)``.
        context: tokens of context shown before the token (half as many after).

    Returns scores over ``("example",)``: the activation; labels are the tokens in context
    (``«token»`` marks the one scored); ``meta["examples"]`` locates each.
    """
    watch = c.Stopwatch()
    texts = _checked_texts(texts, k, text_column, limit)
    ((layer, index),) = c.parse_neurons(lm, [neuron])
    encodings = encode_texts(lm, list(texts), chat)
    found = _neuron_activations(lm, encodings, layer, index, batch_size)
    best = found[:k]
    examples: list[dict[str, Any]] = [
        {"text_index": i, "position": p, "token": encodings[i].tokens[p], "activation": v} for v, i, p in best
    ]
    return Explanation(
        scores=np.array([v for v, _, _ in best]),
        axes=("example",),
        labels={"example": [_context(encodings[i].tokens, p, context) for _, i, p in best]},
        method="top_activating_tokens",
        model=lm.name,
        kind="activations",
        signed=True,
        params={"neuron": f"{layer}.{index}", "k": k, "context": context, "n_texts": len(encodings), "chat": chat},
        meta={
            "examples": examples,
            "n_tokens": len(found),
            "forward_passes": -(-len(encodings) // batch_size),
            "seconds": watch.seconds(),
        },
    )
