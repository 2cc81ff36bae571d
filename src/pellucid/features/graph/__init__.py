"""Attribution graphs: a prompt's computation as direct effects between transcoder features.

Replace every MLP by its transcoder, hold the attention patterns and norm scales at their values
on the prompt, and the model is linear from the token embeddings and MLP outputs to every MLP
input and logit. Each active feature's direct effect on every later feature and on the logits is
then exact (Ameisen et al. 2025, "Circuit Tracing"; the open ``circuit-tracer`` library)::

    from pellucid.features.graph import attribution_graph, load_transcoders

    transcoders = load_transcoders("transcoders/", lm)      # one per layer
    graph = attribution_graph(lm, "The Eiffel Tower is located in the city of", transcoders)
    graph.scores                                            # replacement and completeness
    graph.to_dict()                                         # the pruned graph (docs/circuits.md)

Modules: :mod:`.transcoders` (the per-layer set), :mod:`.replacement` (the clean capture and the
frozen forward), :mod:`.edges` (rows of direct effects), :mod:`.prune` (influence, pruning,
scores), :mod:`.result` (the graph as data and its JSON forms), :mod:`.validate` (ablation in the
real model against the graph's prediction), :mod:`.engine` (the whole run).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "attribution_graph": "engine",
    "AttributionGraph": "result",
    "TranscoderSet": "transcoders",
    "load_transcoders": "transcoders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pellucid.features.graph.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pellucid.features.graph' has no attribute {name!r}")
