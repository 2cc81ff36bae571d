"""Intervening on an attribution graph's feature nodes in the real model, beside the graph's prediction.

A feature node ``F{layer}.{latent}@{position}`` is latent ``latent`` of layer ``layer``'s
transcoder at ``position``. Scaling it by ``s`` adds ``(s − 1) · a · W_dec[latent]`` to that
layer's MLP output at that position in the *real* model (0 ablates it, 2 doubles it:
:func:`pellucid.features.interventions.scaled_logits`); attention, norms and every later layer
respond. A *supernode* is several nodes with one scale.

:func:`intervene` answers the new next-token distribution beside the clean one, the target's
logit minus the mean logit (the graph's units) before and after, and, given the graph the nodes
come from, the change the graph predicts for the same intervention
(:func:`pellucid.features.graph.validate.predicted_change`: each node's move carried through
the graph's computed feature rows to the target).

Error, token and logit nodes are refused: an error node is the transcoder's residual (scaling it
is not an intervention on a feature), a token node is the embedding, a logit node the output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from pellucid.features.graph.result import AttributionGraph
    from pellucid.features.graph.transcoders import TranscoderSet
    from pellucid.models import LM

_FEATURE = re.compile(r"^F(\d+)\.(\d+)@(\d+)$")
_OTHER = {"error": re.compile(r"^err\d+@\d+$"), "token": re.compile(r"^tok@\d+$"), "logit": re.compile(r"^logit:\d+$")}
#: scales accepted (a larger factor only pushes a feature further off the model's distribution)
MAX_SCALE = 100.0


@dataclass(frozen=True)
class Node:
    """A feature node to scale: where it is, how strongly it fires on the prompt, and the scale."""

    id: str
    layer: int
    latent: int
    position: int
    scale: float
    activation: float = 0.0


def parse_node(node_id: str, scale: float) -> Node:
    """The feature node ``node_id`` names (``F{layer}.{latent}@{position}``); other kinds are refused."""
    match = _FEATURE.match(node_id)
    if match is None:
        kind = next((k for k, pattern in _OTHER.items() if pattern.match(node_id)), None)
        if kind is not None:
            raise InvalidInputError(
                f"{node_id!r} is a {kind} node; only feature nodes (F<layer>.<latent>@<position>) can be scaled: "
                "an error node is the transcoder's residual, a token node the embedding, a logit node the output."
            )
        raise InvalidInputError(f"{node_id!r} is not a node id; feature nodes are named F<layer>.<latent>@<position>.")
    if not -MAX_SCALE <= scale <= MAX_SCALE:
        raise InvalidInputError(f"scale={scale} for {node_id}; give a number from -{MAX_SCALE:g} to {MAX_SCALE:g}.")
    layer, latent, position = (int(g) for g in match.groups())
    return Node(node_id, layer, latent, position, float(scale))


def _with_activations(lm: LM, ids: torch.Tensor, transcoders: TranscoderSet, nodes: list[Node]) -> list[Node]:
    """Each node with its activation on the prompt; nodes outside the set, the prompt or the width are refused."""
    import dataclasses

    import torch

    n_pos = ids.shape[1]
    for node in nodes:
        if node.layer not in transcoders.layers:
            raise InvalidInputError(f"{node.id}: layer {node.layer} has no transcoder (layers {transcoders.layers}).")
        if node.position >= n_pos:
            raise InvalidInputError(f"{node.id}: position {node.position} is past the prompt's {n_pos} tokens.")
        if node.latent >= transcoders[node.layer].d_sae:
            width = transcoders[node.layer].d_sae
            raise InvalidInputError(f"{node.id}: latent {node.latent} does not exist (latents 0..{width - 1}).")
    sites = sorted({transcoders[n.layer].config.site for n in nodes})
    _, cache = lm.run_with_cache(ids, sites)
    out = []
    for node in nodes:
        dictionary = transcoders[node.layer]
        with torch.no_grad():
            z = dictionary.encode(cache[dictionary.config.site][0, node.position : node.position + 1].float())
        activation = float(z[0, node.latent])
        if activation <= 0:
            raise InvalidInputError(
                f"{node.id} does not fire on this prompt (activation {activation:g}); scaling it changes nothing."
            )
        out.append(dataclasses.replace(node, activation=activation))
    return out


def _distribution(lm: LM, logits: torch.Tensor, target: int, top_k: int) -> dict[str, Any]:
    import torch

    last = logits[0, -1].float()
    probs = torch.softmax(last.double(), dim=-1)
    top_p, top_i = torch.topk(probs, top_k)
    pieces = lm.decode_tokens(top_i.tolist())
    return {
        "top": [{"token": t, "id": int(i), "probability": float(p)} for t, i, p in zip(pieces, top_i, top_p)],
        "target_value": float(last[target] - last.mean()),
        "target_probability": float(probs[target]),
    }


def _prediction(graph: AttributionGraph, nodes: list[Node]) -> dict[str, float]:
    from pellucid.features.graph.validate import predicted_change

    index = {graph.node_id(i): i for i in range(graph.n_features)}
    missing = [n.id for n in nodes if n.id not in index]
    if missing:
        raise InvalidInputError(f"{missing} are not among the graph's computed feature nodes; pick nodes it shows.")
    direct, total = predicted_change(graph, [index[n.id] for n in nodes], [n.scale for n in nodes])
    return {"predicted": total, "predicted_direct": direct}


def _check_same(graph: AttributionGraph, lm: LM, transcoders: TranscoderSet, ids: list[int]) -> None:
    """The graph must be of this model, transcoder set and prompt (its prediction is about them)."""
    if graph.model != lm.name or graph.transcoders != transcoders.names() or list(graph.token_ids) != ids:
        raise InvalidInputError(
            f"The graph is of {graph.model} over {graph.transcoders[:1]}... on {graph.prompt!r}; the intervention "
            f"names {lm.name}, {transcoders.names()[:1]}... and another prompt. Intervene on the graph's own "
            "prompt, model and transcoder set (or leave the graph out)."
        )


def _parse(groups: Sequence[tuple[Sequence[str], float]]) -> list[Node]:
    """Every node of every group with its group's scale; none, or one node twice, is refused."""
    parsed = [parse_node(node_id, scale) for ids_, scale in groups for node_id in ids_]
    if not parsed:
        raise InvalidInputError("No node given; name at least one feature node (e.g. F1.23@4) to scale.")
    repeated = sorted({n.id for n in parsed if sum(m.id == n.id for m in parsed) > 1})
    if repeated:
        raise InvalidInputError(f"{repeated} appear more than once; give each node one scale.")
    return parsed


def _node_row(n: Node) -> dict[str, Any]:
    return {"id": n.id, "layer": n.layer, "latent": n.latent, "position": n.position,
            "activation": n.activation, "scale": n.scale}  # fmt: skip


def intervene(
    lm: LM, transcoders: TranscoderSet, prompt: str, groups: Sequence[tuple[Sequence[str], float]], *,
    chat: bool = False, graph: AttributionGraph | None = None, top_k: int = 5, document_start: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Scale each group of feature nodes in the real model; the new output, the target's change, the prediction.

    The prompt is encoded as the graph encodes it (with the document-start token unless
    ``document_start`` is false, or the given graph was built without it)."""
    import torch

    from pellucid.features.attribution import FeatureNode
    from pellucid.features.graph.engine import encode_prompt
    from pellucid.features.interventions import scaled_logits
    from pellucid.inspect import _common as c

    parsed = _parse(groups)
    if graph is not None:  # encoded as the graph was
        document_start = bool(graph.params.get("document_start", document_start))
    enc = encode_prompt(lm, prompt, chat, document_start)
    if graph is not None:
        _check_same(graph, lm, transcoders, list(enc.ids))
    ids = c.as_ids(lm, enc)
    nodes = _with_activations(lm, ids, transcoders, parsed)
    scaled = [
        (transcoders[n.layer], [FeatureNode(n.latent, n.position, enc.tokens[n.position], n.activation, 0.0)], n.scale)
        for n in nodes
    ]
    before, after = scaled_logits(lm, ids, scaled)
    target = int(graph.targets[0]["id"]) if graph is not None else int(torch.argmax(before[0, -1]))
    clean, changed = _distribution(lm, before, target, top_k), _distribution(lm, after, target, top_k)
    answer: dict[str, Any] = {
        "target": {"token": lm.decode_tokens([target])[0], "id": target},
        "nodes": [_node_row(n) for n in nodes],
        "before": clean,
        "after": changed,
        "measured": changed["target_value"] - clean["target_value"],
        "predicted": None,
        "predicted_direct": None,
    }
    if graph is not None:
        answer.update(_prediction(graph, nodes))
    return answer
