"""Which dictionary features carried a target: activation × gradient over the latents, checked by ablation.

Splice the dictionary into the forward pass with its error kept exact: at the site it writes,
the activation ``y`` becomes::

    y' = decode(z) + e,      z = encode(x) (a leaf),   e = y - decode(z) (detached)

so ``y' = y`` and the model's output is unchanged, but the target's gradient now reaches each
latent. With ``g = ∂F/∂y`` at every position and ``decode(z) = z @ W_dec + b_dec``::

    y · g  =  Σ_i z_i (W_dec[i] · g)  +  e · g  +  b_dec · g
           =  Σ_i attribution_i       +  error  +  bias

— the site's contribution (gradient × activation, the same quantity ``grad_x_input`` gives a
token) splits exactly into one term per active latent, one *error node* per position (what the
dictionary does not reconstruct) and the decoder bias. ``meta["completeness_residual"]`` records
how far the computed sum is from ``y · g`` relative to its size (fp32 rounding only).

For an autoencoder ``x`` and ``y`` are the same activation; a transcoder reads its input site
(``blocks.L.mlp.in``) and writes its output site (``blocks.L.mlp.out``). A skip transcoder's
linear term ``x @ W_skip.T`` is part of ``y'`` too and, belonging to no latent, is a term of its
own, ``skip[t] = (x_t W_skipᵀ) · g_t`` (zeros for other dictionaries): the identity gains ``+ skip``.

Attribution is a first-order prediction: removing latent ``i`` should change ``F`` by about
``-attribution_i``. :func:`attribute_features` checks that claim on the real model — it
ablates the top features (subtracts ``z_i W_dec[i]`` at their positions) and reports the
measured change next to the predicted one (``meta["self_check"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.errors import InvalidInputError
from pellucid.features.self_check import verdict
from pellucid.inspect import _common as c

if TYPE_CHECKING:
    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models.lm import LM, Prompt


@dataclass(frozen=True)
class FeatureNode:
    """One active latent at one position and its share of the target."""

    latent: int
    position: int
    token: str
    activation: float
    attribution: float

    def to_dict(self) -> dict[str, Any]:
        return {"latent": self.latent, "position": self.position, "token": self.token,
                "activation": self.activation, "attribution": self.attribution}  # fmt: skip


@dataclass
class FeatureAttribution:
    """The target's split over the dictionary's latents, per-position error nodes and the bias.

    ``features`` lists every active (latent, position) pair, strongest ``|attribution|`` first;
    ``error[t]``, ``bias[t]`` and ``skip[t]`` are the error, decoder-bias (``b_dec``) and skip-term
    (a skip transcoder's ``x W_skipᵀ``, else 0) terms at position ``t``;
    ``total`` is the site's contribution ``Σ_t y_t · g_t``; ``value`` the target's value
    ``F`` (the summed log-probability of the target tokens).
    """

    features: list[FeatureNode]
    tokens: list[str]
    error: list[float]
    bias: list[float]
    total: float
    value: float
    model: str
    site: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)
    skip: list[float] = field(default_factory=list)

    def by_latent(self) -> list[tuple[int, float]]:
        """Attribution summed over positions, per latent, strongest first."""
        sums: dict[int, float] = {}
        for node in self.features:
            sums[node.latent] = sums.get(node.latent, 0.0) + node.attribution
        return sorted(sums.items(), key=lambda kv: -abs(kv[1]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "feature_attribution", "model": self.model, "site": self.site, "target": self.target,
            "tokens": self.tokens, "value": self.value, "total": self.total, "error": self.error,
            "bias": self.bias, "skip": self.skip, "features": [f.to_dict() for f in self.features],
            "by_latent": [{"latent": i, "attribution": a} for i, a in self.by_latent()], "meta": self.meta,
        }  # fmt: skip


def _target_logprob(logits: torch.Tensor, target_ids: Sequence[int], prompt_len: int) -> torch.Tensor:
    """Σ log p(target token j | prompt, earlier target tokens), teacher-forced, ``[B]``."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    rows = [logprobs[:, prompt_len - 1 + j, t] for j, t in enumerate(target_ids)]
    return torch.stack(rows, dim=-1).sum(-1)


class _Splice:
    """Hooks that rebuild the written activation from the dictionary, keeping every step inspectable."""

    def __init__(self, dictionary: SparseDictionary, positions: int) -> None:
        self.dictionary = dictionary
        self.positions = positions  # the prompt's positions: target positions are not attributed
        self.source: torch.Tensor | None = None
        self.z: torch.Tensor | None = None
        self.out: torch.Tensor | None = None
        self.error: torch.Tensor | None = None
        self.skip: torch.Tensor | None = None
        self.original: torch.Tensor | None = None

    def read(self, value: torch.Tensor, _site: str) -> None:
        self.source = value.detach()

    def write(self, value: torch.Tensor, _site: str) -> torch.Tensor:
        d = self.dictionary
        source = value.detach() if self.source is None or not d.config.is_transcoder else self.source
        x = source[0, : self.positions].float()
        self.z = d.encode(x).detach().requires_grad_(True)
        self.skip = d.skip_out(x).detach()  # a skip transcoder's linear term: reported with the bias
        recon = d.decode(self.z) + self.skip
        self.original = value[0, : self.positions].detach()
        self.error = self.original.float() - recon.detach()
        head = (recon + self.error).to(value.dtype).unsqueeze(0)
        self.out = torch.cat([head, value[:, self.positions :].detach()], dim=1)
        self.out.retain_grad()
        return self.out

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        cfg = self.dictionary.config
        if cfg.is_transcoder:
            assert cfg.site_out is not None
            return [(cfg.site, self.read), (cfg.site_out, self.write)]
        return [(cfg.site, self.write)]


def _ablation(
    dictionary: SparseDictionary, chosen: Sequence[FeatureNode], scale: float = 0.0
) -> Callable[[torch.Tensor, str], torch.Tensor]:
    """A hook scaling each chosen (latent, position) contribution ``z_i W_dec[i]`` by ``scale``."""
    w = dictionary.W_dec.detach()

    def hook(value: torch.Tensor, _site: str) -> torch.Tensor:
        out = value.clone()
        for node in chosen:
            delta = (scale - 1.0) * node.activation * w[node.latent]
            out[:, node.position] += delta.to(value.dtype)
        return out

    return hook


def _check_dictionary(lm: LM, dictionary: SparseDictionary) -> None:
    from pellucid.features.saelens_format import check_compatible

    check_compatible(dictionary, lm)


def intervene(
    lm: LM, ids: torch.Tensor, target_ids: Sequence[int], dictionary: SparseDictionary,
    nodes: Sequence[FeatureNode], scale: float = 0.0,
) -> float:  # fmt: skip
    """The target's value with the given feature contributions scaled by ``scale`` (0 ablates them).

    ``ids`` is the prompt followed by the target's tokens but its last (teacher forcing), as
    :func:`attribute_features` builds it.
    """
    site = dictionary.config.site_out or dictionary.config.site
    with torch.no_grad(), lm.hooks([(site, _ablation(dictionary, nodes, scale))]):
        logits = lm.forward(ids).logits
    prompt_len = ids.shape[1] - (len(target_ids) - 1)  # ids end with every target token but the last
    return float(_target_logprob(logits, target_ids, prompt_len)[0])


def attribute_features(
    lm: LM,
    prompt: Prompt,
    target: str,
    dictionary: SparseDictionary,
    *,
    chat: bool | None = None,
    verify: int = 5,
) -> FeatureAttribution:
    """Attribute ``log p(target | prompt)`` to the dictionary's latents at its site (see the module).

    ``meta["completeness_residual"]`` is ``|Σ latents + error + bias − y·g|`` relative to the
    largest of those terms: fp32 rounding of the splice, about 1e-7.

    Args:
        target: the continuation whose summed log-probability is explained (e.g. ``" Paris"``).
        chat: apply the chat template (default: when the model has one).
        verify: how many top features (by attribution) the self-check ablates together; 0 skips it.
    """
    if verify < 0:
        raise InvalidInputError(f"verify={verify}; give 0 (no self-check) or a positive number of features.")
    _check_dictionary(lm, dictionary)
    watch = c.Stopwatch()
    enc = c.encode(lm, prompt, chat)
    target_ids = lm.encode_target(target)
    lm.check_length(len(enc) + len(target_ids), "prompt and target")
    ids = torch.tensor([list(enc.ids) + target_ids[:-1]], dtype=torch.long, device=lm.device)
    splice = _Splice(dictionary, len(enc))
    with torch.enable_grad(), lm.hooks(splice.hooks()):
        value = _target_logprob(lm.forward(ids).logits, target_ids, len(enc))[0]
        value.backward()
    assert splice.z is not None and splice.out is not None and splice.out.grad is not None
    result = _collect(lm, enc, splice, float(value.detach()), dictionary, target)
    result.meta.update({"forward_passes": 1, "backward_passes": 1, "seconds_attribution": watch.seconds()})
    if verify:
        result.meta["self_check"] = _self_check(lm, ids, target_ids, dictionary, result, verify)
    result.meta["seconds"] = watch.seconds()
    return result


def _collect(
    lm: LM, enc: Any, splice: _Splice, value: float, dictionary: SparseDictionary, target: str
) -> FeatureAttribution:
    """Turn the spliced pass's tensors into nodes, error, bias and skip terms, with the completeness check."""
    assert splice.z is not None and splice.out is not None and splice.out.grad is not None
    assert splice.error is not None and splice.original is not None
    n = splice.positions
    g = splice.out.grad[0, :n].double()
    z = splice.z.detach().double()
    per_latent = z * (g @ dictionary.W_dec.detach().double().T)  # [n, d_sae]: z_i (W_dec[i] · g)
    error = (splice.error.double() * g).sum(-1)
    assert splice.skip is not None
    # b_dec and a skip transcoder's linear term (zeros otherwise) belong to no latent
    bias = g @ dictionary.b_dec.detach().double()
    skip = (splice.skip.double() * g).sum(-1)
    total = float((splice.original.double() * g).sum())
    tokens = list(enc.tokens)
    active = torch.nonzero(z > 0, as_tuple=False).tolist()
    nodes = [FeatureNode(int(i), int(t), tokens[t], float(z[t, i]), float(per_latent[t, i])) for t, i in active]
    nodes.sort(key=lambda node: -abs(node.attribution))
    parts = (float(per_latent.sum()), float(error.sum()), float(bias.sum()), float(skip.sum()))
    # rounding is relative to the largest term: a poor dictionary's error and reconstruction can be
    # far larger than the total they cancel to
    scale = max(abs(total), *(abs(p) for p in parts), 1e-30)
    residual = abs(sum(parts) - total) / scale
    return FeatureAttribution(
        features=nodes, tokens=tokens, error=error.tolist(), bias=bias.tolist(), skip=skip.tolist(), total=total,
        value=value,
        model=lm.name, site=dictionary.config.site_out or dictionary.config.site, target=target,
        meta={"completeness_residual": residual, "active_features": len(nodes),
              "error_share": float(error.sum()) / total if total else float("nan")},
    )  # fmt: skip


def _self_check(
    lm: LM, ids: torch.Tensor, target_ids: Sequence[int], dictionary: SparseDictionary,
    result: FeatureAttribution, count: int,
) -> dict[str, Any]:  # fmt: skip
    """Ablate the top ``count`` positive features together; compare the measured change with the predicted one."""
    top = [node for node in result.features if node.attribution > 0][:count]
    if not top:
        return {"ablated": 0, "note": "no feature supports the target, so there is nothing to ablate"}
    ablated = intervene(lm, ids, target_ids, dictionary, top)
    measured = ablated - result.value
    predicted = -float(np.sum([node.attribution for node in top]))
    agreement = measured / predicted if predicted else float("nan")
    consequence = "read the attributions as a first-order estimate only"
    return {
        **verdict(measured, predicted, consequence),
        "ablated": len(top), "predicted_change": predicted, "measured_change": measured, "agreement": agreement,
        "note": "agreement is measured / predicted change of the target's log-probability; 1 means the "
                "first-order attribution matches the real ablation, far from 1 means the effect is non-linear",
    }  # fmt: skip
