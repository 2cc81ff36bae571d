"""Acting on features: ablate or scale latents in the forward pass, and steer along a latent's direction.

A latent ``i`` that fires with activation ``z_i`` at a position adds ``z_i · W_dec[i]`` to the
activation its dictionary reconstructs. *Ablating* it subtracts exactly that vector at every
position where it fires (the dictionary's error term stays, so nothing else changes); *scaling*
by ``s`` adds ``(s - 1) · z_i · W_dec[i]``. *Steering* adds ``coefficient · W_dec[i] / |W_dec[i]|``
at every position of the residual stream the dictionary reads, through the same steering verb as
any other direction (:func:`pellucid.inspect.steering.steer`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.features.attribution import FeatureNode, _ablation, intervene
from pellucid.inspect import _common as c

if TYPE_CHECKING:
    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models.lm import LM, Prompt

#: sites whose activation is added to the residual stream as it is (the sites steering can write)
_STREAM_SITE = re.compile(r"^blocks\.(\d+)\.(resid_pre|resid_post|attn\.out|mlp\.out)$")


def check_latents(dictionary: SparseDictionary, latents: Sequence[int]) -> list[int]:
    """The latent ids as ints, each checked against the dictionary's width."""
    if not latents:
        raise InvalidInputError("No latents given; pass at least one latent id (e.g. --latent 123).")
    out = []
    for latent in latents:
        if not 0 <= int(latent) < dictionary.d_sae:
            raise InvalidInputError(
                f"Latent {latent} does not exist: this dictionary has latents 0..{dictionary.d_sae - 1}."
            )
        out.append(int(latent))
    return out


def active_nodes(
    lm: LM, ids: torch.Tensor, dictionary: SparseDictionary, latents: Sequence[int], positions: int
) -> list[FeatureNode]:
    """Every (latent, position) among ``latents`` that fires in the first ``positions`` tokens of ``ids``."""
    cfg = dictionary.config
    _, cache = lm.run_with_cache(ids, [cfg.site])
    with torch.no_grad():
        z = dictionary.encode(cache[cfg.site][0, :positions].float())
    tokens = lm.decode_tokens(ids[0, :positions].tolist())
    return [
        FeatureNode(latent, t, tokens[t], float(z[t, latent]), 0.0)
        for latent in latents
        for t in range(positions)
        if z[t, latent] > 0
    ]


def ablate_latents(
    lm: LM,
    prompt: Prompt,
    target: str,
    dictionary: SparseDictionary,
    latents: Sequence[int],
    *,
    scale: float = 0.0,
    chat: bool | None = None,
) -> dict[str, Any]:
    """The target's log-probability with ``latents`` scaled by ``scale`` wherever they fire (0 ablates).

    Returns ``{"before", "after", "change", "scale", "latents", "fired": [{latent, position, token,
    activation}]}``; a latent that never fires on the prompt changes nothing and is listed in
    ``"silent"``.
    """
    from pellucid.features.saelens_format import check_compatible

    check_compatible(dictionary, lm)
    chosen = check_latents(dictionary, latents)
    if not torch.isfinite(torch.tensor(float(scale))):
        raise InvalidInputError(f"scale={scale}; give a finite number (0 ablates, 2 doubles).")
    enc = c.encode(lm, prompt, chat)
    target_ids = lm.encode_target(target)
    lm.check_length(len(enc) + len(target_ids), "prompt and target")
    ids = torch.tensor([list(enc.ids) + target_ids[:-1]], dtype=torch.long, device=lm.device)
    nodes = active_nodes(lm, ids, dictionary, chosen, len(enc))
    before = intervene(lm, ids, target_ids, dictionary, [], 1.0)
    after = intervene(lm, ids, target_ids, dictionary, nodes, scale) if nodes else before
    fired = {node.latent for node in nodes}
    return {
        "target": target, "scale": float(scale), "latents": chosen, "before": before, "after": after,
        "change": after - before, "fired": [node.to_dict() for node in nodes],
        "silent": [latent for latent in chosen if latent not in fired],
    }  # fmt: skip


#: one intervention: a dictionary, the (latent, position) contributions it scales and the scale
Scaled = tuple["SparseDictionary", Sequence[FeatureNode], float]


def scaled_logits(lm: LM, ids: torch.Tensor, groups: Sequence[Scaled]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean logits, logits with every group scaled)`` of ``ids`` (``[1, T]``) in the real model.

    Each group's contributions ``z · W_dec[latent]`` at their positions are scaled by the group's
    scale where its dictionary writes (an MLP transcoder: ``blocks.L.mlp.out``); attention, norms
    and every later layer respond. The hooked pass holds the model's exclusive lease.
    """
    hooks: list[tuple[str, Callable[..., Any]]] = [
        (d.config.site_out or d.config.site, _ablation(d, nodes, scale)) for d, nodes, scale in groups if nodes
    ]
    with torch.no_grad():
        before = lm.forward(ids).logits
        with lm.hooks(hooks):
            after = lm.forward(ids).logits
    return before, after


def steering_direction(dictionary: SparseDictionary, latent: int) -> tuple[torch.Tensor, int, str]:
    """``(unit decoder direction [d_model], layer, site suffix)`` to steer along latent ``latent``.

    The dictionary must write a site that is added to the residual stream as it is
    (``blocks.L.resid_pre|resid_post|attn.out|mlp.out``): an MLP transcoder qualifies (it writes
    ``mlp.out``), a dictionary over ``mlp.in`` or ``mlp.post`` does not.
    """
    (latent,) = check_latents(dictionary, [latent])
    site = dictionary.config.site_out or dictionary.config.site
    match = _STREAM_SITE.match(site)
    if match is None:
        raise InvalidInputError(
            f"This dictionary writes {site!r}, which steering cannot write; it needs a dictionary over "
            "blocks.L.resid_post, resid_pre, attn.out or mlp.out. "
            "Use feature ablation (`pellucid features ablate`) instead."
        )
    row = dictionary.W_dec.detach()[latent].float()
    norm = row.norm()
    if norm == 0:
        raise InvalidInputError(f"Latent {latent} has a zero decoder direction (a dead latent); pick another.")
    return row / norm, int(match.group(1)), match.group(2)
