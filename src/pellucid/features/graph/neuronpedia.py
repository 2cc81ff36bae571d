"""A graph in the JSON that circuit-tracer's ``create_graph_files`` writes and Neuronpedia's viewer reads.

The format (circuit-tracer's ``frontend/graph_models.py``): ``metadata`` (slug, scan, transcoder
list, prompt tokens, prompt, node threshold), ``qParams`` (the viewer's pinned nodes and
supernodes, empty here), ``nodes`` and ``links`` (``source``, ``target``, ``weight``). Node ids:

==============  ===============================  =====================  ========================
kind            ``node_id``                      ``layer``              ``feature_type``
==============  ===============================  =====================  ========================
feature         ``{layer}_{latent}_{pos}``       the layer              ``cross layer transcoder``
error           ``0_{layer}_{pos}``              the layer              ``mlp reconstruction error``
token           ``E_{vocab id}_{pos}``           ``E``                  ``embedding``
logit           ``{L+1}_{vocab id}_{last pos}``  ``L + 1``              ``logit``
==============  ===============================  =====================  ========================

``influence`` is each node's cumulative influence share, as the viewer expects; the first logit
is the target. Only kept nodes and edges are written; tokens and logits always are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pellucid.features.graph.result import AttributionGraph


def _node(graph: AttributionGraph, index: int) -> dict[str, Any]:
    kind, layer, pos = graph.kind_of(index)
    influence = float(graph.cumulative[index])
    base: dict[str, Any] = {"ctx_idx": pos, "token_prob": 0.0, "is_target_logit": False, "run_idx": 0,
                            "reverse_ctx_idx": 0, "clerp": "", "influence": influence, "activation": None}  # fmt: skip
    if kind == "feature":
        latent = int(graph.features[index, 2])
        return {**base, "node_id": f"{layer}_{latent}_{pos}", "feature": latent, "layer": str(layer),
                "feature_type": "cross layer transcoder", "jsNodeId": f"{layer}_{latent}-0",
                "activation": float(graph.features[index, 3])}  # fmt: skip
    if kind == "error":
        return {**base, "node_id": f"0_{layer}_{pos}", "feature": -1, "layer": str(layer),
                "feature_type": "mlp reconstruction error", "jsNodeId": f"{layer}_{pos}-0"}  # fmt: skip
    if kind == "token":
        vocab = graph.token_ids[pos]
        return {**base, "node_id": f"E_{vocab}_{pos}", "feature": pos, "layer": "E",
                "feature_type": "embedding", "jsNodeId": f"E_{vocab}-{pos}"}  # fmt: skip
    number = index - graph.adjacency.shape[0] + len(graph.targets)
    target = graph.targets[number]
    top = str(graph.n_layers + 1)
    return {**base, "node_id": f"{top}_{target['id']}_{pos}", "feature": target["id"], "layer": top,
            "feature_type": "logit", "token_prob": target["probability"], "is_target_logit": number == 0,
            "jsNodeId": f"L_{target['id']}-{pos}", "influence": None,
            "clerp": f'Output "{target["token"]}" (p={target["probability"]:.3f})'}  # fmt: skip


def export(graph: AttributionGraph, slug: str, scan: str | None) -> dict[str, Any]:
    """The pruned graph as circuit-tracer's/Neuronpedia's graph JSON (see the module docstring)."""
    nodes = {int(i): _node(graph, int(i)) for i in np.nonzero(graph.node_mask)[0]}
    links = [
        {"source": nodes[s]["node_id"], "target": nodes[t]["node_id"], "weight": w}
        for s, t, w in graph.edges(pruned=True)
        if s in nodes and t in nodes
    ]
    linked = {link["source"] for link in links} | {link["target"] for link in links}
    used = [n for n in nodes.values() if n["node_id"] in linked or n["feature_type"] in ("embedding", "logit")]
    for node in used:
        node["jsNodeId"] = node.get("jsNodeId") or node["node_id"]
    metadata = {
        "slug": slug,
        "scan": scan or f"pellucid-{graph.model}",
        "transcoder_list": graph.transcoders,
        "prompt_tokens": graph.tokens,
        "prompt": graph.prompt,
        "node_threshold": graph.params.get("node_threshold"),
    }
    q_params = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": metadata, "qParams": q_params, "nodes": used, "links": links}
