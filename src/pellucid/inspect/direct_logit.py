"""Direct logit attribution (DLA): how much does each component write the answer directly?

The residual stream at the last position is a sum of what every component added::

    x_final = embed + sum_l (attn_l + mlp_l)

and the logit difference between a target and a foil is read from it through the final norm
and the unembedding: ``logit_t - logit_f = u · norm(x_final) + (b_t - b_f)`` with
``u = W_U[t] - W_U[f]``. The norm is not linear, so, as is standard (Elhage et al. 2021,
"A Mathematical Framework for Transformer Circuits"; Nanda's TransformerLens
``cache.logit_attrs``), its scale is *frozen* at the value it takes on the real
``x_final``. With ``s`` frozen, RMSNorm ``g * x * s`` and LayerNorm ``g * (x - mean(x)) * s + b``
are linear in ``x``, so each component ``c`` gets the share ``s * (u * g) · centre(c)``.

Heads: attention's output is ``W_O z + b_O`` with ``z`` the concatenated head outputs, so
head ``h`` contributes ``W_O[:, h] z_h`` (obtained by running the output projection on ``z``
with every other head zeroed) and ``b_O`` is reported with the layer's bias.

The terms reported are the components, the embedding term, the bias term (norm bias and
unembedding bias) and the *residual*: the real logit difference minus all of them. The
components plus these terms sum exactly to the real logit difference; the residual is
~1e-5 for Llama, GPT-2 and GPT-NeoX blocks and is large only for blocks that transform
their outputs before adding them (e.g. Gemma-2's post-norms), which it then measures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.types import Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt


def _frozen_norm(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float, bool, torch.Tensor]:
    """The final norm at ``x`` as ``(gain [D], frozen scale, centres, bias [D])``.

    The formula is checked against the module's own output; LayerNorm, RMSNorm and the
    ``(1 + weight)`` RMSNorm of Gemma are recognised.
    """
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    eps = float(getattr(module, "variance_epsilon", getattr(module, "eps", 1e-5)))
    ones = torch.ones_like(x)
    actual = module(x)
    centred = isinstance(module, nn.LayerNorm)
    v = x - x.mean() if centred else x
    scale = torch.rsqrt(v.pow(2).mean() + eps)
    b = bias.detach() if isinstance(bias, torch.Tensor) else torch.zeros_like(x)
    gains = [weight.detach(), 1 + weight.detach()] if isinstance(weight, torch.Tensor) else [ones]
    for gain in gains:
        if torch.allclose(gain * v * scale + b, actual, rtol=1e-4, atol=1e-5):
            return gain, float(scale), centred, b
    raise InvalidInputError(
        f"Direct logit attribution does not know the final norm {type(module).__name__}; "
        "supported: LayerNorm and RMSNorm variants."
    )


def _unembed_direction(lm: LM, target: int, foil: int | None) -> tuple[torch.Tensor, float]:
    unembed = c.unembedding(lm)
    weight, bias = cast(torch.Tensor, unembed.weight).detach(), getattr(unembed, "bias", None)
    u = weight[target] - (weight[foil] if foil is not None else 0)
    b = 0.0
    if isinstance(bias, torch.Tensor):
        b = float(bias[target] - (bias[foil] if foil is not None else 0))
    return u, b


def _head_outputs(lm: LM, layer: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each head's share ``[H, D]`` of the attention output and the projection's bias ``[D]``."""
    proj = lm.site(f"blocks.{layer}.attn.z").module
    n_heads, d_head = z.shape
    masked = torch.zeros(n_heads, n_heads * d_head, dtype=z.dtype, device=z.device)
    for h in range(n_heads):
        masked[h, h * d_head : (h + 1) * d_head] = z[h]
    with torch.no_grad(), lm.lease():  # the projection is called directly, under the shared lease
        bias = proj(torch.zeros(1, n_heads * d_head, dtype=z.dtype, device=z.device))[0]
        return proj(masked) - bias, bias


def _target_and_foil(lm: LM, target: str, foil: str | None) -> tuple[int, int | None]:
    """The first token of the target and of the foil (``None`` without one); they must differ."""
    tid = c.token_id(lm, target, "target")
    fid = c.token_id(lm, foil, "foil") if foil is not None else None
    if fid == tid:
        raise InvalidInputError(
            f"The target {target!r} and the foil {foil!r} start with the same token; pick another foil."
        )
    return tid, fid


def _dla_sites(n_layers: int, by: str) -> list[str]:
    """The sites to cache: the embedding, the final residual stream and every block's components."""
    sites = ["blocks.0.resid_pre", f"blocks.{n_layers - 1}.resid_post"]
    for layer in range(n_layers):
        sites += [
            f"blocks.{layer}.{s}"
            for s in (("attn.out", "mlp.out", "attn.z") if by == "head" else ("attn.out", "mlp.out"))
        ]
    return sites


def _component_shares(
    cache: dict[str, torch.Tensor], share: Callable[[torch.Tensor], torch.Tensor], n_layers: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The last position's direct share of the embedding, and of every layer's attention and MLP output."""
    embed = float(share(cache["blocks.0.resid_pre"][0, -1]))
    attn = torch.stack([share(cache[f"blocks.{layer}.attn.out"][0, -1]) for layer in range(n_layers)])
    mlp = torch.stack([share(cache[f"blocks.{layer}.mlp.out"][0, -1]) for layer in range(n_layers)])
    return embed, attn, mlp


def _logit_diff(logits: torch.Tensor, tid: int, fid: int | None) -> float:
    """The model's own last-position logit of the target minus the foil's (the target's logit without one)."""
    last = logits[0, -1].float()
    return float(last[tid] - (last[fid] if fid is not None else 0))


def _arrange(
    lm: LM,
    cache: dict[str, torch.Tensor],
    share: Callable[[torch.Tensor], torch.Tensor],
    attn: torch.Tensor,
    mlp: torch.Tensor,
    by: str,
) -> tuple[torch.Tensor, tuple[str, str], dict[str, list[str]], dict[str, Any]]:
    """Scores, axes and labels ``by`` layer (attention and MLP per layer) or by head; by head, the
    MLP and attention-bias terms per layer come back separately, for ``meta``."""
    n = lm.n_layers
    if by == "layer":
        labels = {"layer": c.layer_labels(range(n)), "component": ["attn", "mlp"]}
        return torch.stack([attn, mlp], dim=1), ("layer", "component"), labels, {}
    scores, attn_bias = _by_head(lm, cache, share)
    labels = {"layer": c.layer_labels(range(n)), "head": [f"H{h}" for h in range(lm.n_heads)]}
    return scores, ("layer", "head"), labels, {"mlp": mlp.tolist(), "attn_bias": attn_bias}


def direct_logit_attribution(
    lm: LM,
    prompt: Prompt,
    *,
    target: str,
    foil: str | None = None,
    by: str = "layer",
    chat: bool | None = False,
) -> Explanation:
    """Split the last position's logit difference ``target − foil`` into per-component shares.

    Args:
        target, foil: next tokens (first token of each is used). Without a foil, the target's
            own logit is decomposed.
        by: ``layer`` — axes ``("layer", "component")`` with components ``attn`` and ``mlp``;
            ``head`` — axes ``("layer", "head")``, with MLP and attention-bias terms per layer
            in ``meta``.

    ``meta`` holds ``logit_diff`` (the model's), ``embed``, ``bias``, ``residual`` and, for
    ``by="head"``, ``mlp`` and ``attn_bias`` per layer; ``scores.sum()`` plus those terms
    equals ``logit_diff`` exactly.
    """
    watch = c.Stopwatch()
    c.check_choice("by", by, ("layer", "head"))
    enc = c.encode(lm, prompt, chat)
    tid, fid = _target_and_foil(lm, target, foil)
    n = lm.n_layers
    logits, cache = lm.run_with_cache(c.as_ids(lm, enc), _dla_sites(n, by))
    real = _logit_diff(logits, tid, fid)
    share, bias, scale = _reader(lm, cache[f"blocks.{n - 1}.resid_post"][0, -1], tid, fid)
    embed, attn, mlp = _component_shares(cache, share, n)
    meta: dict[str, Any] = {"logit_diff": real, "embed": embed, "bias": bias}
    scores, axes, labels, per_layer_terms = _arrange(lm, cache, share, attn, mlp, by)
    meta.update(per_layer_terms)
    explained = float(scores.sum()) + embed + bias + sum(meta.get("mlp", [])) + sum(meta.get("attn_bias", []))
    meta.update(
        residual=real - explained, final_norm_scale=scale, target=c.token_meta(lm, target, tid),
        foil=c.token_meta(lm, foil, fid), forward_passes=1, seconds=watch.seconds(),
    )  # fmt: skip
    return Explanation(
        scores=scores.numpy(),
        axes=axes,
        labels=labels,
        method="direct_logit_attribution",
        model=lm.name,
        kind="direct_logit",
        signed=True,
        meta=meta,
        params={"target": target, "foil": foil, "by": by, "chat": chat, "position": len(enc) - 1},
    )


def _reader(
    lm: LM, x_final: torch.Tensor, target: int, foil: int | None
) -> tuple[Callable[[torch.Tensor], torch.Tensor], float, float]:
    """``(share, bias term, frozen scale)``: ``share(v)`` is v's direct contribution to the logit difference."""
    with lm.lease():  # the final norm is called directly, under the shared lease
        gain, scale, centred, norm_bias = _frozen_norm(c.final_norm(lm), x_final)
    u, unembed_bias = _unembed_direction(lm, target, foil)
    weights = u * gain * scale

    def share(v: torch.Tensor) -> torch.Tensor:
        v = v - v.mean(-1, keepdim=True) if centred else v
        return (v * weights).sum(-1)

    return share, float((u * norm_bias).sum()) + unembed_bias, scale


def _by_head(
    lm: LM, cache: dict[str, torch.Tensor], share: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, list[float]]:
    """Each head's share ``[layers, heads]`` and each layer's output-projection bias share."""
    heads, attn_bias = [], []
    for layer in range(lm.n_layers):
        per_head, proj_bias = _head_outputs(lm, layer, cache[f"blocks.{layer}.attn.z"][0, -1])
        heads.append(share(per_head))
        attn_bias.append(float(share(proj_bias)))
    return torch.stack(heads), attn_bias
