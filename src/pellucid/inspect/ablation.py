"""Ablation: remove a component and see how much the answer suffers.

Zero ablation replaces a component's output with zeros; mean ablation with its average
over reference texts (by default the prompt's own tokens), which keeps the activation "on
distribution" and is usually the fairer test (Wang et al. 2022, IOI §3; Chan et al. 2022
on causal scrubbing discuss the choice). Components:

- ``heads``: one attention head's output ``z_h`` (before the output projection) — zeroing
  it equals deleting that head's columns of ``W_O`` (a test checks this);
- ``attn`` / ``mlp``: a layer's attention or MLP output ``attn.out`` / ``mlp.out``;
- ``layers``: both, so the block passes its input through unchanged (zero ablation);
- ``neurons``: single MLP neurons ``mlp.post[i]`` given as ``(layer, index)`` or ``"layer.index"``.

The score is the change in the target's probability, ``p(ablated) − p(original)``: negative
where the component helps the answer. Each component is ablated on its own (one batched
partial run per layer, see :mod:`pellucid.inspect._runner`), or all together with
``joint=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect._runner import BaseRun, base_run, run_from
from pellucid.inspect.features import batches, encode_texts
from pellucid.models.hooks import HookFn
from pellucid.types import Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

ABLATIONS = ("heads", "attn", "mlp", "layers", "neurons")
_SITES = {
    "heads": ("attn.z",),
    "attn": ("attn.out",),
    "mlp": ("mlp.out",),
    "layers": ("attn.out", "mlp.out"),
    "neurons": ("mlp.post",),
}


@dataclass(frozen=True)
class Component:
    """One ablated unit: ``kind`` in :data:`ABLATIONS`, its layer, and a head/neuron index."""

    kind: str
    layer: int
    index: int | None = None

    @property
    def label(self) -> str:
        if self.kind == "heads":
            return f"L{self.layer}H{self.index}"
        if self.kind == "neurons":
            return f"L{self.layer}.N{self.index}"
        return f"L{self.layer} {self.kind}"


def _components(lm: LM, what: str, layers: Any, heads: Any, neurons: Any) -> list[Component]:
    if what == "neurons":
        if not neurons:
            raise InvalidInputError("what='neurons' needs neurons=['layer.index', ...], e.g. ['3.512'].")
        return [Component("neurons", layer, index) for layer, index in c.parse_neurons(lm, neurons)]
    layer_list = c.resolve_layers(lm, layers)
    if what == "heads":
        return [Component("heads", layer, h) for layer in layer_list for h in c.resolve_heads(lm, heads)]
    return [Component(what, layer) for layer in layer_list]


def _means(lm: LM, texts: Sequence[str], comps: list[Component], chat: bool | None) -> dict[str, torch.Tensor]:
    """Mean activation of every needed site over all real tokens of ``texts``."""
    names = sorted({f"blocks.{p.layer}.{s}" for p in comps for s in _SITES[p.kind]})
    encodings = encode_texts(lm, texts, chat)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for items, cache in batches(lm, encodings, names):
        lengths = [len(encodings[i]) for i in items]
        count += sum(lengths)
        for name in names:
            total = torch.stack([cache[name][row, :n].sum(0) for row, n in enumerate(lengths)]).sum(0)
            sums[name] = sums[name] + total if name in sums else total
    return {name: value / count for name, value in sums.items()}


def _edit(
    comp: Component, site: str, how: str, means: dict[str, torch.Tensor], rows: list[int] | None
) -> tuple[str, HookFn]:
    """A hook that ablates ``comp`` in batch ``rows`` (all rows if ``None``)."""
    name = f"blocks.{comp.layer}.{site}"

    def hook(x: torch.Tensor, _site: str) -> torch.Tensor:
        x = x.clone()
        sel = slice(None) if rows is None else rows
        if comp.index is None:  # a whole output [B, L, D]
            x[sel] = 0 if how == "zero" else means[name]
        else:  # one head of z [B, L, H, d_head] or one neuron of mlp.post [B, L, N]
            x[sel, :, comp.index] = 0 if how == "zero" else means[name][comp.index]
        return x

    return name, hook


def _ablated_probs(
    lm: LM,
    base: BaseRun,
    comps: list[Component],
    how: str,
    means: dict[str, torch.Tensor],
    joint: bool,
    measure: c.TokenMetric,
) -> tuple[torch.Tensor, int]:
    """``p(target)`` with each component ablated (one batched partial run per layer), or all at once."""
    if joint:
        hooks = [_edit(p, s, how, means, None) for p in comps for s in _SITES[p.kind]]
        with torch.no_grad(), lm.hooks(hooks):
            return measure(lm.forward(base.ids, logits_to_keep=1).logits[:, -1]).cpu(), 1
    probs = torch.empty(len(comps))
    layers_used = sorted({p.layer for p in comps})
    for layer in layers_used:
        group = [i for i, p in enumerate(comps) if p.layer == layer]
        hooks = [_edit(comps[i], s, how, means, [b]) for b, i in enumerate(group) for s in _SITES[comps[i].kind]]
        rows = torch.zeros(len(group), dtype=torch.long)
        probs[group] = measure(run_from(lm, base, layer=layer, start=0, rows=rows, hooks=hooks)).cpu()
    return probs, len(layers_used)


def _layout(
    comps: list[Component], what: str, joint: bool, change: torch.Tensor
) -> tuple[tuple[str, ...], dict[str, list[str]], torch.Tensor]:
    """Axes, labels and the shaped scores of an ablation result."""
    if joint:
        names = [p.label for p in comps]
        label = " + ".join(names) if len(names) <= 6 else f"all {len(names)} ({', '.join(names[:6])}…)"
        return ("ablation",), {"ablation": [label]}, change.reshape(1)
    if what == "heads":
        layer_list = list(dict.fromkeys(p.layer for p in comps))
        head_list = list(dict.fromkeys(p.index for p in comps))
        labels = {"layer": c.layer_labels(layer_list), "head": [f"H{h}" for h in head_list]}
        return ("layer", "head"), labels, change.view(len(layer_list), len(head_list))
    if what == "neurons":
        return ("neuron",), {"neuron": [p.label for p in comps]}, change
    component = "block" if what == "layers" else what
    labels = {"layer": c.layer_labels([p.layer for p in comps]), "component": [component]}
    return ("layer", "component"), labels, change.view(-1, 1)


def _reference_means(
    lm: LM, how: str, reference: Sequence[str] | None, prompt_text: str, comps: list[Component], chat: bool | None
) -> dict[str, torch.Tensor]:
    """For mean ablation, each component's mean activation over the reference texts (default: the
    prompt itself, read as it was encoded); nothing for zero ablation."""
    if how != "mean":
        return {}
    return _means(lm, list(reference or [prompt_text]), comps, chat=False if reference is None else chat)


def _ablation_meta(
    lm: LM,
    target: str,
    measure: c.TokenMetric,
    original: float,
    probs: torch.Tensor,
    calls: int,
    watch: c.Stopwatch,
) -> dict[str, Any]:
    """The target's probability before and after each ablation, and the work done (one base run + the ablated runs)."""
    return {
        "original_prob": original,
        "ablated_probs": probs.tolist(),
        "target": c.token_meta(lm, target, measure.target),
        "forward_passes": calls + 1,
        "seconds": watch.seconds(),
    }


def ablate(
    lm: LM,
    prompt: Prompt,
    *,
    target: str,
    what: str = "heads",
    how: str = "zero",
    layers: int | Sequence[int] | None = None,
    heads: int | Sequence[int] | None = None,
    neurons: Sequence[str | tuple[int, int]] | None = None,
    reference: Sequence[str] | None = None,
    joint: bool = False,
    chat: bool | None = False,
) -> Explanation:
    """Change in ``p(target)`` when each chosen component is ablated (or all at once with ``joint``).

    Args:
        what: ``heads``, ``attn``, ``mlp``, ``layers`` or ``neurons`` (then ``neurons=["3.512", ...]``).
        how: ``zero`` or ``mean`` (mean over the tokens of ``reference`` texts, default the prompt).
        layers, heads: which to ablate (default: all).

    Returns an :class:`Explanation` over ``("layer", "head")`` for heads, ``("layer",
    "component")`` for attn/mlp/layers, ``("neuron",)`` for neurons and ``("ablation",)``
    when ``joint``.
    """
    watch = c.Stopwatch()
    c.check_choice("ablation", what, ABLATIONS)
    c.check_choice("how", how, ("zero", "mean"))
    enc = c.encode(lm, prompt, chat)
    measure = c.make_metric(lm, target, None, "prob")
    comps = _components(lm, what, layers, heads, neurons)
    means = _reference_means(lm, how, reference, enc.text, comps, chat)
    base = base_run(lm, c.as_ids(lm, enc), sorted({p.layer for p in comps}))
    original = float(measure(base.logits)[0])
    probs, calls = _ablated_probs(lm, base, comps, how, means, joint, measure)
    axes, labels, scores = _layout(comps, what, joint, probs - original)
    names = [p.label for p in comps]
    return Explanation(
        scores=scores.numpy(),
        axes=axes,
        labels=labels,
        method=f"{how}_ablation",
        model=lm.name,
        kind="ablation",
        signed=True,
        params={"target": target, "what": what, "how": how, "joint": joint, "components": names, "chat": chat},
        meta=_ablation_meta(lm, target, measure, original, probs, calls, watch),
    )
