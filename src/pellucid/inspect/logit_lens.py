"""The logit lens: what would the model predict if it stopped at layer ``l``?

The residual stream after each block lives in the same space as the final one, so the
model's own final normalisation and unembedding can be applied to it early::

    logits_l = unembed(final_norm(resid_post_l))

Reading ``softmax(logits_l)`` at each (layer, position) shows where the next-token
prediction forms: in most models the right answer appears in the middle-to-late layers
and sharpens towards the end. At the last layer the lens *is* the model's output (a test
checks it equals the logits, for models without a final logit soft-cap).

nostalgebraist 2020, "interpreting GPT: the logit lens" (LessWrong); Belrose et al. 2023
("Eliciting Latent Predictions from Transformers with the Tuned Lens") discuss its biases
in early layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

LENS_SCORES = ("prob", "logprob", "rank")


def lens_logits(lm: LM, resid: torch.Tensor) -> torch.Tensor:
    """Apply the model's final norm and unembedding to residual-stream vectors ``[..., D] -> [..., V]``."""
    norm, unembed = c.final_norm(lm), c.unembedding(lm)
    with torch.no_grad(), lm.lease():  # the modules are called directly: no other thread may be hooking them
        return unembed(norm(resid))


def _rank(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``ids[i]`` among ``logits[i]`` (1 = top prediction)."""
    chosen = logits.gather(-1, ids.unsqueeze(-1))
    return (logits > chosen).sum(-1) + 1


def _top_k(lm: LM, logprobs: torch.Tensor, k: int) -> list[list[dict[str, Any]]]:
    values, ids = logprobs.topk(k, dim=-1)
    return [
        [
            {"token": lm.tokenizer.decode([int(i)]), "id": int(i), "prob": round(float(v.exp()), 6)}
            for v, i in zip(vs, is_)
        ]
        for vs, is_ in zip(values, ids)
    ]


def _check_lens_args(score: str, top_k: int) -> None:
    """``score`` is one of :data:`LENS_SCORES` and ``top_k`` is not negative."""
    c.check_choice("score", score, LENS_SCORES)
    if top_k < 0:
        raise InvalidInputError(f"top_k={top_k}; it must be 0 (none) or more.")


def _scored_ids(lm: LM, target: str | None, final_logits: torch.Tensor) -> tuple[int | None, torch.Tensor]:
    """The token each position scores: the target's first token everywhere, or else the full
    model's own top-1 prediction at that position (``final_logits``: ``[P, V]``)."""
    tid = c.token_id(lm, target) if target is not None else None
    wanted = torch.full((len(final_logits),), tid) if tid is not None else final_logits.argmax(-1)
    return tid, wanted


def _lens_meta(
    lm: LM,
    enc: Encoding,
    target: str | None,
    tid: int | None,
    wanted: torch.Tensor,
    tops: list[list[list[dict[str, Any]]]],
    pos_list: list[int],
    watch: c.Stopwatch,
) -> dict[str, Any]:
    """The top predictions per cell, the token scored at each position and the work done."""
    return {
        "top_k": tops, "target": c.token_meta(lm, target, tid),
        "scored_tokens": [lm.tokenizer.decode([int(i)]) for i in wanted],
        "label_info": {"position": c.position_info(enc, pos_list)}, "forward_passes": 1, "seconds": watch.seconds(),
    }  # fmt: skip


def logit_lens(
    lm: LM,
    prompt: Prompt,
    *,
    target: str | None = None,
    layers: int | Sequence[int] | None = None,
    positions: int | Sequence[int] | None = None,
    score: str = "prob",
    top_k: int = 5,
    include_embed: bool = False,
    chat: bool | None = False,
) -> Explanation:
    """Decode the residual stream after each layer at each position.

    Args:
        target: the token whose probability/rank is scored (e.g. ``" Paris"``). Without one,
            each position scores the token the full model predicts there (its final top-1),
            showing at which layer that prediction emerges.
        score: ``prob``, ``logprob`` or ``rank`` (1 = top).
        top_k: how many top predictions per cell to keep in ``meta["top_k"][layer][position]``.
        include_embed: add a first row for the embeddings (the stream before block 0).

    Returns an :class:`Explanation` over ``("layer", "position")``.
    """
    watch = c.Stopwatch()
    _check_lens_args(score, top_k)
    enc = c.encode(lm, prompt, chat)
    ids = c.as_ids(lm, enc)
    layer_list = c.resolve_layers(lm, layers)
    pos_list = c.resolve_positions(len(enc), positions)
    sites = (["blocks.0.resid_pre"] if include_embed else []) + [f"blocks.{layer}.resid_post" for layer in layer_list]
    with torch.no_grad():
        final_logits, cache = lm.run_with_cache(ids, sites)
    tid, wanted = _scored_ids(lm, target, final_logits[0, pos_list])
    scores, tops = _read_layers(lm, [cache[site][0, pos_list] for site in sites], wanted, score, top_k)
    params = {"target": target, "layers": layer_list, "positions": pos_list, "score": score, "top_k": top_k,
              "include_embed": include_embed, "chat": chat}  # fmt: skip
    return Explanation(
        scores=scores.numpy(),
        axes=("layer", "position"),
        labels={"layer": (["embed"] if include_embed else []) + c.layer_labels(layer_list),
                "position": c.position_labels(enc, pos_list)},
        method="logit_lens",
        model=lm.name,
        kind="logit_lens",
        signed=False,
        params=params,
        meta=_lens_meta(lm, enc, target, tid, wanted, tops, pos_list, watch),
    )  # fmt: skip


def _read_layers(
    lm: LM, streams: list[torch.Tensor], wanted: torch.Tensor, score: str, top_k: int
) -> tuple[torch.Tensor, list[list[list[dict[str, Any]]]]]:
    """Decode each ``[P, D]`` stream: the score of ``wanted[p]`` per position and the top-k per cell."""
    rows, tops = [], []
    for stream in streams:
        logits = lens_logits(lm, stream).float()
        logprobs = torch.log_softmax(logits, dim=-1)
        chosen = logprobs.gather(-1, wanted.unsqueeze(-1)).squeeze(-1)
        rows.append({"prob": chosen.exp(), "logprob": chosen, "rank": _rank(logits, wanted).float()}[score])
        tops.append(_top_k(lm, logprobs, top_k) if top_k else [])
    return torch.stack(rows), tops
