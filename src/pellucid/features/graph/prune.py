"""Influence, pruning and the graph's two scores, on the adjacency matrix (rows: targets, columns: sources).

**Influence.** Normalise each row to absolute values summing to 1 (``Â``: the share of a
target's direct input each source provides). Start from the logit nodes weighted by their
probabilities, ``w``; a node's *influence* on the output is ``w Â + w Â² + …`` — its share of
the logits' input through paths of every length. The graph is acyclic (effects only run to
later layers), so the series ends after at most ``layers + 2`` terms.

**Pruning** (node threshold, then edge threshold, as circuit-tracer does):

1. keep the most influential nodes until their cumulative influence reaches ``node_threshold``
   of the total (tokens and logits are always kept);
2. on the matrix of kept nodes, score each edge by ``Â[t, s] · (influence of t + w_t)`` and keep
   the highest until ``edge_threshold`` of the total score;
3. drop, repeatedly, feature and error nodes left without an outgoing edge and features left
   without an incoming one.

**Scores** (Ameisen et al. 2025):

- *replacement score*: of the influence that reaches the logits from the graph's leaves (tokens
  and errors), the share that starts at tokens — 1 when no error node matters;
- *completeness score*: the share of every node's normalised input that comes from non-error
  nodes, averaged with weights ``influence + w`` — 1 when the transcoders are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pellucid.errors import InvalidInputError


def normalise(matrix: torch.Tensor) -> torch.Tensor:
    """Absolute values, each row scaled to sum to 1 (rows of zeros stay zero)."""
    absolute = matrix.abs()
    return absolute / absolute.sum(dim=1, keepdim=True).clamp(min=1e-10)


def influence(normalised: torch.Tensor, weights: torch.Tensor, max_steps: int = 1000) -> torch.Tensor:
    """``w Â + w Â² + …`` for an acyclic ``Â`` (see the module docstring)."""
    total = torch.zeros_like(weights)
    current = weights @ normalised
    for _ in range(max_steps):
        if not bool(current.any()):
            return total
        total += current
        current = current @ normalised
    raise InvalidInputError("The adjacency matrix has a cycle: influence did not converge; the graph is damaged.")


def threshold_for(scores: torch.Tensor, fraction: float) -> float:
    """The score above which the highest scores make up ``fraction`` of the total."""
    ordered = torch.sort(scores.flatten(), descending=True).values
    total = ordered.sum()
    if float(total) <= 0:
        return float("inf")
    cumulative = torch.cumsum(ordered, 0) / total
    index = min(int(torch.searchsorted(cumulative, torch.tensor(fraction, dtype=cumulative.dtype))), len(ordered) - 1)
    return float(ordered[index])


@dataclass
class Layout:
    """Counts of each kind of node, in the order ``features | errors | tokens | logits``."""

    n_features: int
    n_errors: int
    n_tokens: int
    n_logits: int

    @property
    def size(self) -> int:
        return self.n_features + self.n_errors + self.n_tokens + self.n_logits

    def logit_weights(self, probabilities: torch.Tensor) -> torch.Tensor:
        weights = torch.zeros(self.size)
        weights[self.size - self.n_logits :] = probabilities
        return weights


@dataclass
class Pruned:
    """Kept nodes ``[N]`` and edges ``[N, N]``, each node's influence and its cumulative share."""

    node_mask: torch.Tensor
    edge_mask: torch.Tensor
    influence: torch.Tensor
    cumulative: torch.Tensor


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name}={value}; give a fraction between 0 and 1 (e.g. 0.8 nodes, 0.98 edges).")


def prune(
    adjacency: torch.Tensor, layout: Layout, probabilities: torch.Tensor, node_threshold: float, edge_threshold: float
) -> Pruned:
    """Prune by cumulative influence (see the module docstring)."""
    _check_fraction("node_threshold", node_threshold)
    _check_fraction("edge_threshold", edge_threshold)
    weights = layout.logit_weights(probabilities)
    node_influence = influence(normalise(adjacency), weights)
    nodes = node_influence >= threshold_for(node_influence, node_threshold)
    always = layout.n_tokens + layout.n_logits
    nodes[layout.size - always :] = True
    kept = adjacency.clone()
    kept[~nodes] = 0
    kept[:, ~nodes] = 0
    kept_normalised = normalise(kept)
    edge_scores = kept_normalised * (influence(kept_normalised, weights) + weights)[:, None]
    edges = edge_scores >= threshold_for(edge_scores, edge_threshold)
    edges &= kept != 0
    _drop_dangling(nodes, edges, layout)
    ordered, order = torch.sort(node_influence, descending=True)
    cumulative = torch.zeros_like(node_influence)
    cumulative[order] = torch.cumsum(ordered, 0) / ordered.sum().clamp(min=1e-30)
    return Pruned(nodes, edges, node_influence, cumulative)


def _drop_dangling(nodes: torch.Tensor, edges: torch.Tensor, layout: Layout) -> None:
    """Drop feature/error nodes without outgoing edges and features without incoming ones, until none is left."""
    inner = layout.size - layout.n_tokens - layout.n_logits
    while True:
        before = nodes.clone()
        edges[~nodes] = False
        edges[:, ~nodes] = False
        nodes[:inner] &= edges[:, :inner].any(0)
        nodes[: layout.n_features] &= edges[: layout.n_features].any(1)
        if torch.equal(before, nodes):
            return


def scores(adjacency: torch.Tensor, layout: Layout, probabilities: torch.Tensor) -> tuple[float, float]:
    """``(replacement score, completeness score)`` of a graph (see the module docstring)."""
    weights = layout.logit_weights(probabilities)
    normalised = normalise(adjacency)
    node_influence = influence(normalised, weights)
    errors = slice(layout.n_features, layout.n_features + layout.n_errors)
    tokens = slice(errors.stop, errors.stop + layout.n_tokens)
    from_tokens, from_errors = float(node_influence[tokens].sum()), float(node_influence[errors].sum())
    replacement = from_tokens / (from_tokens + from_errors) if from_tokens + from_errors > 0 else float("nan")
    non_error = 1 - normalised[:, errors].sum(dim=1)
    output = node_influence + weights
    completeness = float((non_error * output).sum() / output.sum())
    return replacement, completeness
