"""Attribution graphs of known facts on trained transcoders: scores, self-checks, and named routes.

For each prompt of ``FACTS`` (capital cities and landmarks, each with the token that completes
it) the graph of that target is computed over a trained transcoder set
(``pellucid features train --transcoder --layers all``), and the script prints:

- the target's probability, the **replacement** and **completeness** scores of the whole graph
  and of the pruned one, the self-check (top features ablated in the real model: measured change
  of the target logit vs the graph's prediction) and the time;
- for the first prompt (the Eiffel Tower one), the strongest **routes**
  through the pruned graph from the subject's tokens to the answer (any, and those through features
  only, above layer 0 somewhere, no error node): a route's score is the product
  of its edges' shares of their target's absolute input (the normalised matrix pruning uses), so
  it reads as "this share of the answer's input flows along here". Each feature on a route is
  named by what it does: the corpus tokens it fires on most (one pass over ``--name-tokens``
  tokens of the corpus for every named feature at once) and the tokens its decoder promotes;
- the ``--top`` most influential features of that graph, and those at the subject's tokens (above
  layer 0), named the same way, with their direct edge to the answer.

    python benchmarks/graph_facts.py --transcoders tc/ --corpus corpus.txt [--json facts.json]
"""

from __future__ import annotations

import argparse
import heapq
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pellucid.features.activations import token_batches
from pellucid.features.corpus import iter_texts
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.graph.result import AttributionGraph
from pellucid.features.graph.transcoders import TranscoderSet, load_transcoders
from pellucid.features.show import logit_effects
from pellucid.inspect import _common as c
from pellucid.models import LM
from pellucid.settings import Settings

FACTS = [
    ("The Eiffel Tower is located in the city of", " Paris"),
    ("The capital of France is", " Paris"),
    ("The capital of Germany is", " Berlin"),
    ("The capital of Japan is", " Tokyo"),
    ("The capital of Italy is", " Rome"),
    ("The Colosseum is located in the city of", " Rome"),
    ("Big Ben is located in the city of", " London"),
    ("The Statue of Liberty is located in the city of", " New"),
]


def fact_row(lm: LM, transcoders: TranscoderSet, prompt: str, target: str, nodes: int) -> tuple[dict, AttributionGraph]:
    """One graph and the figures the table prints."""
    start = time.perf_counter()
    graph = attribution_graph(lm, prompt, transcoders, target=target, max_feature_nodes=nodes)
    check = graph.meta.get("self_check", {})
    row = {
        "prompt": prompt, "target": target, "probability": round(graph.targets[0]["probability"], 4),
        **{k: round(v, 3) for k, v in graph.scores.items()},
        "self_check": {k: check.get(k) for k in ("measured", "predicted", "predicted_direct")},
        "kept_nodes": graph.meta["kept_nodes"], "kept_edges": graph.meta["kept_edges"],
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    return row, graph


def routes(
    graph: AttributionGraph, sources: range, top: int = 5, features_only: bool = False
) -> list[tuple[float, list[int]]]:
    """The ``top`` strongest routes (score, node indices from token to logit) through the pruned graph.

    Scores multiply each edge's share of its target's absolute input; a best-first search over the
    kept edges, backwards from the logit, finds the strongest routes without listing all of them.
    ``features_only`` keeps the routes whose every step is a feature (no error node) and that pass
    a feature above layer 0: the routes a reader can name step by step.
    """
    kept = np.where(graph.edge_mask, np.abs(graph.adjacency), 0.0)
    share = kept / np.maximum(np.abs(graph.adjacency).sum(axis=1, keepdims=True), 1e-30)
    token_nodes = {graph.n_features + graph.n_layers * graph.n_pos + p for p in sources}
    if features_only:
        errors = np.arange(graph.n_features, graph.n_features + graph.n_layers * graph.n_pos)
        share[:, errors] = 0.0
    logit = graph.adjacency.shape[0] - len(graph.targets)

    def deep(node: int) -> bool:  # a feature above layer 0
        return node < graph.n_features and int(graph.features[node, 0]) > 0

    def viable(path: list[int], source: int) -> bool:
        """Whether ``path`` extended by ``source`` can still end as a wanted route.

        With ``features_only``, a route with no feature above layer 0 yet that steps to a token or
        to a layer-0 feature (whose only sources are tokens) can never qualify: it is dropped now,
        so it cannot crowd the bounded frontier out of routes that can.
        """
        return not features_only or deep(source) or any(deep(i) for i in path)

    frontier: list[tuple[float, list[int]]] = [(-1.0, [logit])]
    found: list[tuple[float, list[int]]] = []
    while frontier and len(found) < top:
        neg, path = heapq.heappop(frontier)
        head = path[-1]
        if head in token_nodes:
            found.append((-neg, path[::-1]))
            continue
        for source in np.nonzero(share[head])[0]:
            if int(source) not in path and len(path) < 12 and viable(path, int(source)):
                heapq.heappush(frontier, (neg * float(share[head, source]), [*path, int(source)]))
        frontier = heapq.nsmallest(2000, frontier)  # bounded: the weakest partial routes cannot win
    return found


def name_features(
    lm: LM, transcoders: TranscoderSet, wanted: set[tuple[int, int]], corpus: Path, tokens: int
) -> dict[tuple[int, int], dict[str, Any]]:
    """For each ``(layer, latent)``: the corpus tokens it fires on most and the tokens it promotes."""
    layers = sorted({layer for layer, _ in wanted})
    best: dict[tuple[int, int], list[tuple[float, str]]] = {w: [] for w in wanted}
    seen = 0
    for _, ids, attention, keep in token_batches(lm, iter_texts(corpus), 128, 16, bucket=16, document_start=True):
        if not keep.any():
            continue
        sites = [f"blocks.{layer}.mlp.in" for layer in layers]
        cache = c.run_until(lm, ids, sites, attention_mask=attention.long())
        for layer in layers:
            with torch.no_grad():
                acts = transcoders[layer].encode(cache[f"blocks.{layer}.mlp.in"].float()) * keep[..., None]
            for w in (w for w in wanted if w[0] == layer):
                values, where = acts[..., w[1]].flatten().topk(5)
                for v, flat in zip(values.tolist(), where.tolist(), strict=True):
                    if v > 0:
                        row, col = divmod(flat, ids.shape[1])
                        context = lm.tokenizer.decode(ids[row, max(0, col - 4) : col].tolist())
                        item = (v, f"{context}[{lm.tokenizer.decode([int(ids[row, col])])}]")
                        (heapq.heappush if len(best[w]) < 5 else heapq.heappushpop)(best[w], item)
        seen += int(keep.sum())
        if seen >= tokens:
            break
    return {
        w: {"fires_on": [t for _, t in sorted(best[w], reverse=True)],
            "promotes": [t for t, _ in logit_effects(lm, transcoders[w[0]], w[1], top=6)[0]]}
        for w in wanted
    }  # fmt: skip


def subject_positions(graph: AttributionGraph) -> range:
    """The subject's tokens: after the document start (when there is one) and "The", before " is"."""
    first = 2 if graph.params.get("constant_first") else 1
    return range(first, graph.tokens.index(" is") if " is" in graph.tokens else graph.n_pos)


def most_influential(graph: AttributionGraph, top: int, positions: range | None = None) -> list[int]:
    """The ``top`` kept features of the most influence on the answer (only at ``positions`` when given)."""
    influence = graph.influence[: graph.n_features] * graph.node_mask[: graph.n_features]
    order = [int(i) for i in np.argsort(-influence) if influence[i] > 0]
    if positions is not None:
        order = [i for i in order if int(graph.features[i, 1]) in positions and int(graph.features[i, 0]) > 0]
    return order[:top]


def describe_routes(lm: LM, transcoders: TranscoderSet, graph: AttributionGraph, args: argparse.Namespace) -> dict:
    """The strongest routes from the subject to the answer, and the most influential features overall and at
    the subject's tokens (above layer 0), each named."""
    found = routes(graph, subject_positions(graph))
    named_routes = routes(graph, subject_positions(graph), features_only=True)
    on_routes = {i for _, path in found + named_routes for i in path if i < graph.n_features}
    top = most_influential(graph, args.top)
    subject = most_influential(graph, args.top, subject_positions(graph))
    features = {(int(graph.features[i, 0]), int(graph.features[i, 2])) for i in on_routes | set(top) | set(subject)}
    names = name_features(lm, transcoders, features, args.corpus, args.name_tokens)
    logit = graph.adjacency.shape[0] - len(graph.targets)

    def named(i: int) -> dict[str, Any]:
        layer, pos, latent = (int(graph.features[i, k]) for k in (0, 1, 2))
        return {"layer": layer, "position": pos, "token": graph.tokens[pos], "latent": latent,
                "influence": round(float(graph.influence[i]), 5),
                "edge_to_answer": round(float(graph.adjacency[logit, i]), 4), **names[(layer, latent)]}  # fmt: skip

    def described(chosen: list[tuple[float, list[int]]]) -> list[dict[str, Any]]:
        out = []
        for score, path in chosen:
            steps = []
            for i in path:
                node = graph._node(i)
                if node["kind"] == "feature":
                    node["name"] = names[(node["layer"], node["latent"])]
                steps.append({k: v for k, v in node.items() if k not in ("cumulative",)})
            out.append({"score": round(score, 5), "steps": steps})
        return out

    return {"routes": described(found), "feature_routes": described(named_routes),
            "most_influential": [named(i) for i in top], "at_the_subject": [named(i) for i in subject]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcoders", required=True, help="A trained set, or 'random' (a smoke run).")
    parser.add_argument("--facts", type=int, default=len(FACTS), help="Only the first N prompts.")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--corpus", type=Path, required=True, help="Text to name features on (the training corpus).")
    parser.add_argument("--name-tokens", type=int, default=30_000)
    parser.add_argument("--max-feature-nodes", type=int, default=500)
    parser.add_argument("--top", type=int, default=12, help="Most influential features named (all, at the subject).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lm = LM.load(args.model, Settings.from_env())
    if args.transcoders == "random":
        from bench_graph import random_transcoder  # the benchmark's stand-ins: exercises the code, names nothing

        transcoders = TranscoderSet({x: random_transcoder(lm, x, 4608, 32) for x in range(lm.n_layers)}, "random")
    else:
        transcoders = load_transcoders(args.transcoders, lm)
    rows, route = [], None
    for prompt, target in FACTS[: args.facts]:
        row, graph = fact_row(lm, transcoders, prompt, target, args.max_feature_nodes)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if route is None:
            route = describe_routes(lm, transcoders, graph, args)
            print(json.dumps(route, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"facts": rows, **(route or {})}, indent=1) + "\n")


if __name__ == "__main__":
    main()
