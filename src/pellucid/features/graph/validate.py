"""The graph's claim checked on the real model: ablate its top features and compare the logit's change.

The graph predicts what removing a set ``S`` of feature nodes does to the target logit (minus
the mean logit), in two ways:

- **direct**: ``−Σ_{s∈S} A[t, s]`` — only the edges from ``S`` straight to the logit;
- **through the graph**: removing ``s`` moves every computed feature ``j`` it feeds by
  ``A[j, s]`` (a feature's activation is its pre-activation while it stays active), which moves
  the features and logit they feed in turn: ``Δa_j = Σ_k (A[j, k] / a_k) Δa_k`` with
  ``Δa_s = −a_s``, then ``Δ_t = Σ_k (A[t, k] / a_k) Δa_k``.

The measured change comes from the real model with each feature's contribution ``a · W_dec``
subtracted from its layer's MLP output at its position (:mod:`pellucid.features.attribution`'s
feature ablation): attention, norms and later MLPs all respond. Agreement is measured over
predicted; it is near 1 when the graph's linear picture holds for these features. Outside
:data:`~pellucid.features.self_check.AGREEMENT_BOUNDS` (or with the opposite sign) the result
says so: ``holds`` is false and ``warning`` explains it, so a graph that cannot support its
routes does not look normal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.features.attribution import FeatureNode
from pellucid.features.graph.transcoders import TranscoderSet
from pellucid.features.interventions import scaled_logits
from pellucid.features.self_check import verdict

if TYPE_CHECKING:
    from pellucid.features.graph.result import AttributionGraph
    from pellucid.models.lm import LM


def top_features(graph: AttributionGraph, count: int) -> list[int]:
    """The ``count`` feature nodes of most influence on the logits (node indices; kept by pruning or not)."""
    return sorted(range(graph.n_features), key=lambda i: -float(graph.influence[i]))[:count]


def predicted_change(
    graph: AttributionGraph, chosen: list[int], scales: list[float] | None = None
) -> tuple[float, float]:
    """``(direct, through the graph)`` change of the first target when ``chosen`` features are scaled.

    Feature ``chosen[i]`` is scaled by ``scales[i]`` (default 0: removed), so its activation moves
    by ``(scale − 1) · a``; the module docstring's recursion carries that move to the target.
    """
    a = graph.adjacency.astype(np.float64)
    f = graph.n_features
    target = a.shape[0] - len(graph.targets)
    factors = np.asarray(scales if scales is not None else [0.0] * len(chosen), dtype=np.float64) - 1.0
    direct = float(sum(factor * a[target, s] for s, factor in zip(chosen, factors, strict=True)))
    activation = graph.features[:, 3].astype(np.float64)
    per_unit = a[:, :f] / np.where(activation > 0, activation, 1.0)  # effect of one unit of each feature
    moved = np.zeros(f)
    moved[chosen] = factors * activation[chosen]
    delta = moved.copy()
    for _ in range(graph.n_layers + 1):  # effects only run to later layers: this many steps settle
        delta = moved + per_unit[:f] @ delta
        delta[chosen] = moved[chosen]
    return direct, float(per_unit[target] @ delta)


def _demeaned(logits: torch.Tensor, token: int) -> float:
    last = logits[0, -1].float()
    return float(last[token] - last.mean())


def feature_node(graph: AttributionGraph, index: int) -> tuple[int, FeatureNode]:
    """``(layer, node)`` of feature node ``index``: what an intervention on it acts on."""
    layer, pos, latent, act = graph.features[index]
    return int(layer), FeatureNode(int(latent), int(pos), graph.tokens[int(pos)], float(act), 0.0)


def measured_change(
    lm: LM, ids: torch.Tensor, transcoders: TranscoderSet, graph: AttributionGraph, chosen: list[int]
) -> float:
    """The real model's change of the first target (minus the mean logit) with ``chosen`` features ablated."""
    token = int(graph.targets[0]["id"])
    groups = [(transcoders[layer], [node], 0.0) for layer, node in (feature_node(graph, i) for i in chosen)]
    before, after = scaled_logits(lm, ids, groups)
    return _demeaned(after, token) - _demeaned(before, token)


#: what a self-check that does not hold means for the graph (the end of its warning)
CONSEQUENCE = "read the graph's routes with care (better-trained transcoders help; skip transcoders often do not)"


def self_check(
    lm: LM, ids: torch.Tensor, transcoders: TranscoderSet, graph: AttributionGraph, count: int
) -> dict[str, Any]:
    """Ablate the top ``count`` features in the real model; report measured and predicted changes."""
    chosen = top_features(graph, count)
    if not chosen:
        return {"ablated": 0, "note": "the graph has no feature node, so there is nothing to ablate"}
    direct, total = predicted_change(graph, chosen)
    measured = measured_change(lm, ids, transcoders, graph, chosen)
    return {
        **verdict(measured, total, CONSEQUENCE),
        "ablated": len(chosen),
        "nodes": [
            f"F{int(graph.features[i, 0])}.{int(graph.features[i, 2])}@{int(graph.features[i, 1])}" for i in chosen
        ],
        "target": graph.targets[0]["token"],
        "predicted_direct": direct,
        "predicted": total,
        "measured": measured,
        "agreement": measured / total if total else float("nan"),
        "note": "change of the target logit minus the mean logit when the top features are ablated in the real "
        "model; predicted through the graph's computed feature rows (direct: their edges to the logit only)",
    }
