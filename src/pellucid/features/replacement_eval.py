"""How closely the replacement model — every MLP replaced by its transcoder — follows the original.

Each layer's quality alone (:func:`~pellucid.features.evaluate.evaluate`) says little about the
model with *all* MLPs replaced: errors compound from layer to layer. Over the real tokens of
held-out text (no padding, no special tokens, not the first position, as in training), the
replacement model's forward takes every chosen layer's MLP output from its transcoder applied
to that layer's (already replaced) MLP input, and is compared with the clean forward:

- **top-1 agreement**: the share of positions where both predict the same next token;
- **KL**: the mean ``KL(p_original ‖ p_replacement)`` of the next-token distributions, in nats;
- the next-token cross-entropy of both, on the positions whose next token is real.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.features.activations import token_batches
from pellucid.features.corpus import Corpus, iter_texts
from pellucid.features.dictionary import SparseDictionary
from pellucid.features.evaluate import _ce_sum

if TYPE_CHECKING:
    from pellucid.models.lm import LM


def _splice_hooks(
    transcoders: Mapping[int, SparseDictionary], mask: torch.Tensor
) -> list[tuple[str, Callable[..., Any]]]:
    """Hooks that write each layer's transcoder output in place of its MLP output at the ``mask`` positions."""
    seen: dict[int, torch.Tensor] = {}
    hooks: list[tuple[str, Callable[..., Any]]] = []
    for layer, tc in transcoders.items():

        def read(value: torch.Tensor, _site: str, layer: int = layer) -> None:
            seen[layer] = value.detach()

        def write(value: torch.Tensor, _site: str, layer: int = layer, tc: SparseDictionary = tc) -> torch.Tensor:
            out = value.clone()
            out[mask] = tc(seen[layer][mask].float()).to(value.dtype)
            return out

        hooks += [(f"blocks.{layer}.mlp.in", read), (f"blocks.{layer}.mlp.out", write)]
    return hooks


@torch.no_grad()
def replacement_agreement(
    lm: LM,
    transcoders: Mapping[int, SparseDictionary],
    corpus: Corpus,
    *,
    max_tokens: int = 20_000,
    context: int = 128,
    texts_per_forward: int = 8,
    text_field: str | None = None,
) -> dict[str, Any]:
    """Top-1 agreement, mean KL and both cross-entropies over up to ``max_tokens`` held-out tokens."""
    if not transcoders:
        raise InvalidInputError("No transcoders given; pass one or more layers' transcoders.")
    totals = {"agree": 0.0, "kl": 0.0, "n": 0, "ce_clean": 0.0, "ce_replaced": 0.0, "ce_n": 0}
    batches = token_batches(
        lm, iter_texts(corpus, text_field), context, texts_per_forward, bucket=16, document_start=True
    )
    for _, ids, attention, keep in batches:
        if not keep.any():
            continue
        ids, attention, mask = ids.to(lm.device), attention.long().to(lm.device), keep.to(lm.device)
        clean = lm.forward(ids, attention_mask=attention).logits.float()
        with lm.hooks(_splice_hooks(transcoders, mask)):
            replaced = lm.forward(ids, attention_mask=attention).logits.float()
        p_log, q_log = torch.log_softmax(clean[mask], -1), torch.log_softmax(replaced[mask], -1)
        totals["agree"] += float((p_log.argmax(-1) == q_log.argmax(-1)).sum())
        totals["kl"] += float((p_log.exp() * (p_log - q_log)).sum(-1).double().sum())
        totals["n"] += int(mask.sum())
        for key, logits in (("ce_clean", clean), ("ce_replaced", replaced)):
            total, count = _ce_sum(logits, ids, attention.bool())
            totals[key] += total
        totals["ce_n"] += count
        if totals["n"] >= max_tokens:
            break
    if totals["n"] == 0:
        raise InvalidInputError("The held-out corpus has no real tokens to compare on; give some held-out text.")
    n, ce_n = totals["n"], max(int(totals["ce_n"]), 1)
    return {
        "layers": sorted(transcoders),
        "tokens": n,
        "top1_agreement": totals["agree"] / n,
        "kl": totals["kl"] / n,
        "ce_clean": totals["ce_clean"] / ce_n,
        "ce_replaced": totals["ce_replaced"] / ce_n,
    }
