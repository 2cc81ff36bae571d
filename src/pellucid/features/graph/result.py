"""An attribution graph as plain data, its documented JSON form and the circuit-tracer/Neuronpedia form.

:class:`AttributionGraph` keeps the whole adjacency matrix of the selected nodes (rows: targets,
columns: sources, ``features | errors | tokens | logits``) with the pruning masks, so a graph can
be pruned again or exported without recomputing it. :meth:`AttributionGraph.to_dict` writes the
pruned graph in Pellucid's schema (``docs/circuits.md``); :meth:`AttributionGraph.to_neuronpedia`
writes the node/link JSON that circuit-tracer's local server and Neuronpedia's graph viewer read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1


@dataclass
class AttributionGraph:
    """A prompt's attribution graph (see the module docstring; node kinds in ``docs/circuits.md``).

    ``features`` is ``[F, 4]``: layer, position, latent and (as float) activation of each selected
    feature; ``targets`` the logit nodes (``token``, ``id``, ``probability``, ``value``: the logit
    minus the mean logit).
    """

    model: str
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    n_layers: int
    features: np.ndarray
    targets: list[dict[str, Any]]
    adjacency: np.ndarray
    node_mask: np.ndarray
    edge_mask: np.ndarray
    influence: np.ndarray
    cumulative: np.ndarray
    scores: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    transcoders: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # -- layout ------------------------------------------------------------------------------
    @property
    def n_pos(self) -> int:
        return len(self.tokens)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    def kind_of(self, index: int) -> tuple[str, int, int]:
        """``(kind, layer, position)`` of node ``index`` (``layer`` -1 for tokens, ``n_layers`` for logits)."""
        f, n, index = self.n_features, self.n_pos, int(index)
        if index < f:
            return "feature", int(self.features[index, 0]), int(self.features[index, 1])
        if index < f + self.n_layers * n:
            layer, pos = divmod(index - f, n)
            return "error", layer, pos
        if index < f + (self.n_layers + 1) * n:
            return "token", -1, index - f - self.n_layers * n
        return "logit", self.n_layers, n - 1

    def node_id(self, index: int) -> str:
        kind, layer, pos = self.kind_of(index)
        if kind == "feature":
            return f"F{layer}.{int(self.features[index, 2])}@{pos}"
        if kind == "error":
            return f"err{layer}@{pos}"
        if kind == "token":
            return f"tok@{pos}"
        return f"logit:{self.targets[index - self.adjacency.shape[0] + len(self.targets)]['id']}"

    def _node(self, index: int) -> dict[str, Any]:
        kind, layer, pos = self.kind_of(index)
        node: dict[str, Any] = {"id": self.node_id(index), "kind": kind, "layer": layer, "position": pos}
        node.update(influence=float(self.influence[index]), cumulative=float(self.cumulative[index]))
        if kind == "feature":
            node.update(latent=int(self.features[index, 2]), activation=float(self.features[index, 3]))
        elif kind in ("token", "error"):
            node["token"] = self.tokens[pos]
        else:
            target = self.targets[index - self.adjacency.shape[0] + len(self.targets)]
            node.update(token=target["token"], token_id=target["id"], probability=target["probability"],
                        value=target["value"])  # fmt: skip
        return node

    # -- JSON forms ----------------------------------------------------------------------------
    def edges(self, pruned: bool = True) -> list[tuple[int, int, float]]:
        """``(source, target, weight)`` of every (kept) non-zero edge, strongest first."""
        mask = self.edge_mask if pruned else self.adjacency != 0
        targets, sources = np.nonzero(mask)
        weights = self.adjacency[targets, sources]
        order = np.argsort(-np.abs(weights), kind="stable")
        return [(int(sources[i]), int(targets[i]), float(weights[i])) for i in order]

    def to_dict(self, pruned: bool = True) -> dict[str, Any]:
        """The graph in Pellucid's schema: the kept nodes and edges (all of them with ``pruned=False``)."""
        keep = self.node_mask if pruned else np.ones(self.adjacency.shape[0], dtype=bool)
        return {
            "kind": "attribution_graph", "schema_version": SCHEMA_VERSION, "model": self.model,
            "prompt": self.prompt, "tokens": self.tokens, "token_ids": self.token_ids, "n_layers": self.n_layers,
            "targets": self.targets, "scores": self.scores, "params": self.params, "transcoders": self.transcoders,
            "nodes": [self._node(int(i)) for i in np.nonzero(keep)[0]],
            "edges": [{"source": self.node_id(s), "target": self.node_id(t), "weight": w}
                      for s, t, w in self.edges(pruned)],
            "meta": self.meta,
        }  # fmt: skip

    def save(self, path: str | Path, pruned: bool = True) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(pruned), indent=1) + "\n", encoding="utf-8")
        return path

    def to_neuronpedia(self, slug: str = "pellucid-graph", scan: str | None = None) -> dict[str, Any]:
        """The node/link JSON of circuit-tracer's ``create_graph_files`` (what Neuronpedia's viewer reads)."""
        from pellucid.features.graph.neuronpedia import export

        return export(self, slug, scan)

    # -- files ---------------------------------------------------------------------------------
    def save_arrays(self, path: str | Path) -> Path:
        """The whole graph (matrix and masks) as ``.npz`` (no pickle), for re-pruning without the model."""
        path = Path(path)
        header = {k: getattr(self, k) for k in ("model", "prompt", "tokens", "token_ids", "n_layers", "targets",
                                                "scores", "params", "transcoders", "meta")}  # fmt: skip
        np.savez_compressed(path, header=np.array(json.dumps(header)), features=self.features,
                            adjacency=self.adjacency, node_mask=self.node_mask, edge_mask=self.edge_mask,
                            influence=self.influence, cumulative=self.cumulative)  # fmt: skip
        return path

    @classmethod
    def load_arrays(cls, path: str | Path) -> AttributionGraph:
        with np.load(Path(path), allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {
                k: data[k] for k in ("features", "adjacency", "node_mask", "edge_mask", "influence", "cumulative")
            }
        return cls(**header, **arrays)
