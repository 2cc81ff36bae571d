"""Attribution patching: activation patching estimated with one backward pass.

Exact activation patching reruns the model once per patched activation. Attribution
patching (Nanda 2023, "Attribution Patching: Activation Patching At Industrial Scale";
Syed, Rager & Conmy 2023, "Attribution Patching Outperforms Automated Circuit Discovery")
replaces each rerun by a first-order Taylor expansion of the metric around the corrupted run::

    metric(patched at a) - metric(corrupted)  ≈  (a_clean - a_corrupted) · ∂metric/∂a |corrupted

One clean forward (to read ``a_clean``), one corrupted forward and one backward (for every
``a_corrupted`` and gradient at once) give the whole sweep. The estimate is good where the
metric is close to linear in the activation (small patches, attention outputs, later layers)
and poor where a patch changes the model's behaviour a lot (early residual stream,
saturated softmaxes). The function therefore also runs exact (fast) patching by default and
reports the agreement: Pearson and Spearman correlation and the largest error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.inspect import _common as c
from pellucid.inspect.patching import PATCH_SITES, PatchSetup, patch, prepare, resolve_cells, source_activations
from pellucid.types import Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt


def _gradients(
    lm: LM, ids: torch.Tensor, names: list[str], measure: c.TokenMetric
) -> tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Metric of the run on ``ids``, and each named activation and its gradient (no batch dim)."""
    acts: dict[str, torch.Tensor] = {}

    def root(x: torch.Tensor, _site: str) -> torch.Tensor:
        return x.detach().requires_grad_(True)

    def keep(x: torch.Tensor, site: str) -> torch.Tensor:
        acts[site] = x.clone()
        return acts[site]

    with torch.enable_grad(), lm.hooks([("embed", root), *[(name, keep) for name in names]]):
        value = measure(lm.forward(ids, logits_to_keep=1).logits[:, -1])[0]
        grads = torch.autograd.grad(value, [acts[n] for n in names])
    return value.item(), {n: acts[n][0].detach() for n in names}, {n: g[0] for n, g in zip(names, grads)}


def _agreement(estimate: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    a, b = estimate.ravel(), exact.ravel()
    if a.size < 2 or np.std(a) == 0 or np.std(b) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "max_abs_error": float(np.max(np.abs(a - b)))}
    ranks = [np.argsort(np.argsort(v)).astype(float) for v in (a, b)]
    return {
        "pearson": float(np.corrcoef(a, b)[0, 1]),
        "spearman": float(np.corrcoef(ranks[0], ranks[1])[0, 1]),
        "max_abs_error": float(np.max(np.abs(a - b))),
    }


def _estimate_meta(
    lm: LM, setup: PatchSetup, target: str, foil: str | None, clean_m: float, corr_m: float, watch: c.Stopwatch
) -> dict[str, Any]:
    """The clean and corrupted metrics, the tokens compared and the work the estimate took."""
    return {
        "clean_metric": clean_m, "corrupted_metric": corr_m, "metric": setup.metric.kind,
        "target": c.token_meta(lm, target, setup.metric.target), "foil": c.token_meta(lm, foil, setup.metric.foil),
        "forward_passes": 2, "backward_passes": 1, "estimate_seconds": watch.seconds(),
    }  # fmt: skip


def attribution_patch(
    lm: LM,
    clean: Prompt,
    corrupted: Prompt,
    *,
    target: str,
    foil: str | None = None,
    site: str = "resid_pre",
    metric: str | None = None,
    layers: int | Sequence[int] | None = None,
    positions: int | Sequence[int] | None = None,
    chat: bool | None = False,
    align: bool = False,
    compare: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """Estimate the clean→corrupted patching sweep from two forwards and one backward.

    Arguments are those of :func:`pellucid.inspect.patch` (``site``: ``resid_pre``,
    ``resid_post``, ``attn.out``, ``mlp.out`` over layer × position, or ``heads`` over
    layer × head, all positions). With ``compare=True`` the exact sweep is also run and
    ``meta["agreement"]`` holds its correlation with the estimate; ``progress(done, total)`` follows
    that sweep's layers (the estimate itself is three passes).
    """
    watch = c.Stopwatch()
    site = "heads" if site == "attn.z" else c.check_site(site, PATCH_SITES)
    setup = prepare(lm, clean, corrupted, target=target, foil=foil, metric=metric, chat=chat, align=align)
    layer_list, pos_list, _ = resolve_cells(lm, setup, True, layers, positions, None)
    estimate, clean_m, corr_m = _estimate(lm, setup, site, layer_list, pos_list)
    scores = c.normalise(estimate, clean_m, corr_m).numpy()
    meta = _estimate_meta(lm, setup, target, foil, clean_m, corr_m, watch)
    if compare:
        exact = patch(lm, clean, corrupted, target=target, foil=foil, site=site, metric=metric, layers=layer_list,
                      positions=pos_list, chat=chat, align=align, progress=progress)  # fmt: skip
        meta["agreement"] = {**_agreement(scores, exact.scores), "exact_seconds": exact.meta["seconds"]}
        meta["exact_scores"] = exact.scores.tolist()
    meta["seconds"] = watch.seconds()  # the whole call, the exact sweep it was compared with included
    axis, cells = _cell_axis(lm, setup, site, pos_list)
    return Explanation(
        scores=scores,
        axes=("layer", axis),
        labels={"layer": c.layer_labels(layer_list), axis: cells},
        method="attribution_patching",
        model=lm.name,
        kind="patching",
        signed=True,
        meta=meta,
        params={"site": site, "metric": setup.metric.kind, "layers": layer_list, "positions": pos_list,
                "chat": chat, "align": align, "compare": compare},
    )  # fmt: skip


def _cell_axis(lm: LM, setup: PatchSetup, site: str, positions: list[int]) -> tuple[str, list[str]]:
    """The second axis of the heat map and its labels: every head, or the patched positions."""
    if site == "heads":
        return "head", [f"H{h}" for h in range(lm.n_heads)]
    return "position", c.position_labels(setup.clean, positions)


def _estimate(
    lm: LM, setup: PatchSetup, site: str, layers: list[int], positions: list[int]
) -> tuple[torch.Tensor, float, float]:
    """Estimated metric of every patched run ``[layers, cells]``, and the clean and corrupted metrics."""
    suffix = "attn.z" if site == "heads" else site
    names = [f"blocks.{layer}.{suffix}" for layer in layers]
    clean_logits, clean_acts = source_activations(lm, setup.clean_ids, site, layers)
    clean_m = float(setup.metric(clean_logits)[0])
    corr_m, corr_acts, grads = _gradients(lm, setup.corrupted_ids, names, setup.metric)
    rows = []
    for layer, name in zip(layers, names):
        effect = ((clean_acts[layer] - corr_acts[name]) * grads[name]).sum(-1)  # [L] or [L, H]
        rows.append(effect[positions].sum(0) if site == "heads" else effect[positions])
    return torch.stack(rows).float().cpu() + corr_m, clean_m, corr_m
