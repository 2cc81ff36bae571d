"""Look at one feature: where it fires, how strongly, and what its direction says to the output.

:func:`show_feature` reads a corpus through the model (up to the dictionary's site) and gathers,
for one latent,

- its **top-activating contexts**: the texts where it fires hardest, as tokens with the latent's
  activation on each (the strongest position marked), cut to a window around that position;
- its **activation histogram** over the tokens where it fires, and its **density** (the fraction of
  tokens where it fires);
- the tokens its **decoder direction promotes and suppresses** when read straight through the final
  norm's scale and the unembedding (the "logit lens" of a feature; only for dictionaries that write
  into the residual-stream width).

The result is plain data (:meth:`FeatureView.to_dict`) for the CLI, the API and the workbench.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.features.activations import token_batches
from pellucid.features.corpus import Corpus, iter_texts
from pellucid.features.dictionary import SparseDictionary
from pellucid.inspect import _common as c

if TYPE_CHECKING:
    from pellucid.models.lm import LM


@dataclass(frozen=True)
class FeatureView:
    """What :func:`show_feature` found about one latent."""

    feature: int
    tokens_read: int
    density: float
    max_activation: float
    contexts: list[dict[str, Any]]
    histogram: dict[str, list[float]]
    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_feature(dictionary: SparseDictionary, feature: int) -> None:
    if not 0 <= feature < dictionary.d_sae:
        raise InvalidInputError(
            f"Feature {feature} does not exist: this dictionary has features 0..{dictionary.d_sae - 1}."
        )


def logit_effects(
    lm: LM, dictionary: SparseDictionary, feature: int, top: int = 10
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The tokens the feature's decoder direction raises and lowers most through the unembedding."""
    _check_feature(dictionary, feature)
    if dictionary.config.width_out != lm.d_model:
        return [], []
    with torch.no_grad(), lm.lease():
        direction = dictionary.directions()[feature].to(lm.device)
        norm_weight = getattr(c.final_norm(lm), "weight", None) if lm.arch.final_norm is not None else None
        if isinstance(norm_weight, torch.Tensor):
            direction = direction * norm_weight.float()
        unembed = c.unembedding(lm).weight
        if not isinstance(unembed, torch.Tensor):
            return [], []
        scores = unembed.float() @ direction
    up, down = scores.topk(top), (-scores).topk(top)
    words = lm.decode_tokens(up.indices.tolist()), lm.decode_tokens(down.indices.tolist())
    return (
        [(w, float(v)) for w, v in zip(words[0], up.values.tolist(), strict=True)],
        [(w, -float(v)) for w, v in zip(words[1], down.values.tolist(), strict=True)],
    )


def _context(lm: LM, ids: list[int], acts: list[float], window: int) -> dict[str, Any]:
    peak = max(range(len(acts)), key=lambda i: acts[i])
    start, end = max(0, peak - window), min(len(ids), peak + window + 1)
    return {
        "tokens": lm.decode_tokens(ids[start:end]),
        "activations": [round(a, 6) for a in acts[start:end]],
        "peak": peak - start,
        "max": acts[peak],
    }


def _keep_best(
    best: list[tuple[float, int, list[int], list[float]]],
    top: int,
    ids: torch.Tensor,
    attention: torch.Tensor,
    acts: torch.Tensor,
    seen: int,
) -> None:
    """Push each row of a batch where the feature fires onto the min-heap ``best`` of the ``top`` strongest."""
    for row in range(ids.shape[0]):
        n = int(attention[row].sum())
        row_acts = acts[row, :n].tolist()
        if max(row_acts, default=0.0) > 0:
            item = (max(row_acts), seen + row, ids[row, :n].tolist(), row_acts)
            (heapq.heappush if len(best) < top else heapq.heappushpop)(best, item)


def show_feature(
    lm: LM,
    dictionary: SparseDictionary,
    feature: int,
    corpus: Corpus,
    *,
    top: int = 10,
    max_tokens: int = 20_000,
    context: int = 128,
    window: int = 8,
    bins: int = 20,
    text_field: str | None = None,
) -> FeatureView:
    """Top contexts, histogram, density and logit effects of ``feature`` over ``corpus``."""
    _check_feature(dictionary, feature)
    best: list[tuple[float, int, list[int], list[float]]] = []  # min-heap of (max act, order, ids, acts)
    values: list[torch.Tensor] = []
    seen = 0
    for _, ids, attention, keep in token_batches(lm, iter_texts(corpus, text_field), context, 8):
        if not keep.any():
            continue
        cache = c.run_until(
            lm, ids.to(lm.device), [dictionary.config.site], attention_mask=attention.long().to(lm.device)
        )
        with torch.no_grad():
            acts = dictionary.encode(cache[dictionary.config.site].float())[..., feature].cpu() * keep
        _keep_best(best, top, ids, attention, acts, seen)
        values.append(acts[keep])
        seen += int(keep.sum())
        if seen >= max_tokens:
            break
    if seen == 0:
        raise InvalidInputError("The corpus has no text to look for the feature in; give a corpus with some text.")
    every = torch.cat(values)
    active = every[every > 0]
    counts, edges = torch.histogram(active.double(), bins=bins) if active.numel() else (torch.zeros(0), torch.zeros(0))
    promoted, suppressed = logit_effects(lm, dictionary, feature)
    return FeatureView(
        feature=feature,
        tokens_read=seen,
        density=active.numel() / seen,
        max_activation=float(active.max()) if active.numel() else 0.0,
        contexts=[_context(lm, ids, acts, window) for _, _, ids, acts in sorted(best, reverse=True)],
        histogram={"edges": edges.tolist(), "counts": counts.tolist()},
        promoted=promoted,
        suppressed=suppressed,
    )
