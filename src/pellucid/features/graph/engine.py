"""The whole run: capture, logit rows, feature rows in order of influence, pruning, scores and checks.

:func:`attribution_graph` follows circuit-tracer's phases on the frozen replacement model
(:mod:`.replacement`):

1. one clean forward records the MLP inputs and outputs, attention inputs and norm scales, and
   the transcoders encode the active features;
2. the *target logits*: the most probable next tokens until their probabilities add up to
   ``logit_probability`` (at most ``max_logits``), or the one ``target`` token; each is the logit
   minus the mean logit (a shift of every logit changes no probability);
3. their rows of direct effects (:mod:`.edges`), then feature rows: the features with the most
   influence on the logits so far (:func:`~.prune.influence` over the rows computed) are
   computed next, ``batch_size`` rows per backward pass, until ``max_feature_nodes``;
4. the adjacency matrix of the computed features, errors, tokens and logits is pruned
   (:func:`~.prune.prune`) and scored (:func:`~.prune.scores`).

The hooked forward passes hold the model's exclusive lease (``LM.replace_outputs``); the backward
passes that follow read only the recorded graph, and run this thread's cancellation checks
before each batch. ``meta`` records the time of each phase, the counts, and two self-checks: the *completeness
identity* (each logit's value minus the sum of all its incoming edges equals the constant term
of the frozen model, computed by a forward with every source removed — exact up to rounding)
and, with ``verify``, the real model's response to ablating the top features (:mod:`.validate`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.errors import InvalidInputError, PromptTooLongError
from pellucid.features.graph import prune as pr
from pellucid.features.graph.edges import Nodes, RowComputer, Target, edge_rows
from pellucid.features.graph.replacement import Capture, FrozenForward, capture
from pellucid.features.graph.result import AttributionGraph
from pellucid.features.graph.transcoders import TranscoderSet, load_transcoders
from pellucid.features.graph.validate import self_check
from pellucid.inspect import _common as c
from pellucid.models.tokens import document_start_id

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

Progress = Callable[[int, int], None]
#: prompts longer than this are refused by default: rows, edges and time grow with the tokens
MAX_GRAPH_TOKENS = 64
#: how many batches of feature rows are computed between two influence rankings
UPDATE_INTERVAL = 4


def select_logits(
    lm: LM, cap: Capture, target: str | None, max_logits: int, probability: float
) -> tuple[list[int], torch.Tensor]:
    """``(token ids, probabilities)`` of the logit nodes (see the module docstring)."""
    probs = torch.softmax(cap.logits.double(), dim=-1)
    if target is not None:
        ids = lm.encode_target(target)
        if len(ids) != 1:
            pieces = lm.decode_tokens(ids)
            raise InvalidInputError(
                f"target={target!r} is {len(ids)} tokens {pieces}; a graph explains one next token: "
                "give a single token (e.g. its first piece) or leave --target out for the likeliest ones."
            )
        return [ids[0]], probs[ids[0]].float().reshape(1)
    if max_logits < 1 or not 0 < probability <= 1:
        raise InvalidInputError(f"max_logits={max_logits}, logit_probability={probability}: need ≥ 1 and (0, 1].")
    top_p, top_i = torch.topk(probs, min(max_logits, probs.numel()))
    count = min(int(torch.searchsorted(torch.cumsum(top_p, 0), torch.tensor(probability, dtype=top_p.dtype))) + 1,
                len(top_p))  # fmt: skip
    return top_i[:count].tolist(), top_p[:count].float()


def _source_influence(rows: torch.Tensor, row_source: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Influence of every source on the logits through the rows computed so far (``row_source`` -1: a logit)."""
    normalised = pr.normalise(rows)
    weights = torch.zeros(rows.shape[0])
    weights[: len(probs)] = probs
    total = torch.zeros(rows.shape[1])
    current = weights @ normalised
    for _ in range(10_000):
        if not bool(current.any()):
            break
        total += current
        weights = torch.where(row_source >= 0, current[row_source.clamp(min=0)], torch.zeros(()))
        current = weights @ normalised
    return total


def _feature_rows(
    computer: RowComputer, logit_rows: torch.Tensor, probs: torch.Tensor, budget: int, batch_size: int,
    progress: Progress | None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Rows of the ``budget`` most influential features: ``(rows [budget, S], feature index per row)``."""
    n_features, n_logits = computer.nodes.n_features, len(probs)
    rows: list[torch.Tensor] = []
    chosen: list[torch.Tensor] = []
    visited = torch.zeros(n_features, dtype=torch.bool)
    done = 0
    while done < budget:
        if budget == n_features:
            pending = torch.arange(n_features)
        else:
            source = torch.cat([torch.full((n_logits,), -1), *chosen])
            influence = _source_influence(torch.cat([logit_rows, *rows]), source, probs)
            ranking = torch.argsort(influence[:n_features], descending=True)
            pending = ranking[~visited[ranking]][: min(UPDATE_INTERVAL * batch_size, budget - done)]
        for start in range(0, len(pending), batch_size):
            index = pending[start : start + batch_size]
            rows.append(computer.rows([Target(feature=int(i)) for i in index])[0])
            chosen.append(index)
            visited[index] = True
            done += len(index)
            if progress is not None:
                progress(done + n_logits, budget + n_logits)
    if not rows:
        return torch.zeros(0, logit_rows.shape[1]), torch.zeros(0, dtype=torch.long)
    return torch.cat(rows), torch.cat(chosen)


def _adjacency(nodes: Nodes, feature_rows: torch.Tensor, chosen: torch.Tensor, logit_rows: torch.Tensor) -> tuple[
    torch.Tensor, torch.Tensor
]:  # fmt: skip
    """The square matrix over ``chosen features | errors | tokens | logits`` (rows ordered like the columns)."""
    order = torch.argsort(chosen)
    selected = chosen[order]
    columns = torch.cat([selected, torch.arange(nodes.n_features, nodes.n_sources)])
    size = len(columns) + logit_rows.shape[0]
    adjacency = torch.zeros(size, size)
    adjacency[: len(selected), : len(columns)] = feature_rows[order][:, columns]
    adjacency[len(columns) :, : len(columns)] = logit_rows[:, columns]
    return adjacency, selected


def encode_prompt(lm: LM, prompt: Prompt, chat: bool, document_start: bool = True) -> Any:
    """The prompt's encoding; with ``document_start`` a raw prompt starting without a special token
    gets the model's document-start token first (:func:`~pellucid.models.tokens.document_start_id`),
    so its first position is the constant attention sink and every token of the prompt is read."""
    enc = c.encode(lm, prompt, chat)
    first = document_start_id(lm.tokenizer) if document_start and not chat and isinstance(prompt, str) else None
    if first is None or starts_constant(lm, list(enc.ids)):
        return enc
    return c.encode(lm, lm.tokenizer.convert_ids_to_tokens(first) + prompt, chat)


def starts_constant(lm: LM, ids: list[int]) -> bool:
    """Whether the first position holds a special token (then nothing there depends on the prompt)."""
    return bool(ids) and ids[0] in set(lm.tokenizer.all_special_ids)


def check_prompt(lm: LM, prompt: Prompt, chat: bool, max_tokens: int, document_start: bool = True) -> Any:
    """The prompt's encoding, refused when it does not fit the graph's token budget (or is a single token)."""
    enc = encode_prompt(lm, prompt, chat, document_start)
    lm.check_length(len(enc), "prompt")
    if len(enc) > max_tokens:
        raise PromptTooLongError(
            f"The prompt is {len(enc)} tokens; attribution graphs take at most max_tokens={max_tokens} "
            f"(the limit is {MAX_GRAPH_TOKENS} by default: rows and edges grow with every token). Shorten it."
        )
    if len(enc) < 2:
        raise InvalidInputError(
            "The prompt is a single token and the model has no document-start token to put before it; "
            "give at least two tokens (the first is the attention sink)."
        )
    return enc


def attribution_graph(
    lm: LM,
    prompt: Prompt,
    transcoders: TranscoderSet | str | Path,
    *,
    target: str | None = None,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    max_feature_nodes: int = 500,
    max_logits: int = 10,
    logit_probability: float = 0.95,
    batch_size: int = 32,
    verify: int = 5,
    chat: bool = False,
    max_tokens: int = MAX_GRAPH_TOKENS,
    skip_first: bool = True,
    document_start: bool = True,
    progress: Progress | None = None,
) -> AttributionGraph:
    """The attribution graph of ``prompt``'s next token over ``transcoders`` (see the module docstring)."""
    _check_options(max_feature_nodes, batch_size, verify, node_threshold, edge_threshold)
    transcoders = transcoders if isinstance(transcoders, TranscoderSet) else load_transcoders(transcoders, lm)
    enc = check_prompt(lm, prompt, chat, max_tokens, document_start)
    watch, times = c.Stopwatch(), {}
    ids = torch.tensor([list(enc.ids)], dtype=torch.long, device=lm.device)
    constant_first = starts_constant(lm, list(enc.ids))
    cap = capture(lm, ids, transcoders, skip_first, constant_first)
    nodes = Nodes.of(cap)
    computer = RowComputer(FrozenForward(lm, cap), nodes, copies=batch_size)
    logit_ids, probs = select_logits(lm, cap, target, max_logits, logit_probability)
    times["capture"] = watch.seconds()
    logit_rows, logit_values = edge_rows(computer, [Target(token=t) for t in logit_ids], batch_size)
    times["logit_rows"] = watch.seconds() - times["capture"]
    budget = min(max_feature_nodes, nodes.n_features)
    rows, chosen = _feature_rows(computer, logit_rows, probs, budget, batch_size, progress)
    times["feature_rows"] = watch.seconds() - sum(times.values())
    targets = _target_table(lm, logit_ids, probs, logit_values)
    params = {"node_threshold": node_threshold, "edge_threshold": edge_threshold, "target": target,
              "max_feature_nodes": max_feature_nodes, "max_logits": max_logits,
              "logit_probability": logit_probability, "batch_size": batch_size,
              "document_start": document_start, "constant_first": constant_first}  # fmt: skip
    shown = prompt if isinstance(prompt, str) and not chat else enc.text  # tokens show any document start
    graph = _package(lm, enc, nodes, (rows, chosen, logit_rows), targets, probs, params, shown)
    graph.transcoders, graph.meta["skip_transcoders"] = transcoders.names(), transcoders.skip_layers()
    times["prune"] = watch.seconds() - sum(times.values())
    graph.meta.update(_counts(nodes, graph, budget, len(logit_ids), batch_size, skip_first, constant_first))
    graph.meta["completeness_identity"] = _identity(computer, logit_rows, logit_values, logit_ids)
    graph.meta.update({"self_check": self_check(lm, ids, transcoders, graph, verify)} if verify else {})
    graph.meta["seconds"] = _phase_seconds(times, watch)
    return graph


def _phase_seconds(times: dict[str, float], watch: c.Stopwatch) -> dict[str, float]:
    """Each phase's seconds (the checks: what the others leave of the total) and the total."""
    times["checks"] = watch.seconds() - sum(times.values())
    return {k: round(v, 3) for k, v in times.items()} | {"total": round(watch.seconds(), 3)}


def _check_options(max_feature_nodes: int, batch_size: int, verify: int, node: float, edge: float) -> None:
    if max_feature_nodes < 0 or batch_size < 1 or verify < 0:
        raise InvalidInputError(
            f"max_feature_nodes={max_feature_nodes}, batch_size={batch_size}, verify={verify}: "
            "need max_feature_nodes ≥ 0, batch_size ≥ 1 and verify ≥ 0."
        )
    pr._check_fraction("node_threshold", node)
    pr._check_fraction("edge_threshold", edge)


def _package(
    lm: LM, enc: Any, nodes: Nodes, computed: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    targets: list[dict[str, Any]], probs: torch.Tensor, params: dict[str, Any], prompt: str,
) -> AttributionGraph:  # fmt: skip
    """The square matrix of the computed rows, pruned and scored, as an :class:`AttributionGraph`."""
    rows, chosen, logit_rows = computed
    adjacency, selected = _adjacency(nodes, rows, chosen, logit_rows)
    layout = pr.Layout(len(selected), nodes.n_layers * nodes.n_pos, nodes.n_pos, len(targets))
    pruned = pr.prune(adjacency, layout, probs, params["node_threshold"], params["edge_threshold"])
    replacement, completeness = pr.scores(adjacency, layout, probs)
    pruned_replacement, pruned_completeness = pr.scores(adjacency * pruned.edge_mask, layout, probs)
    return AttributionGraph(
        model=lm.name, prompt=prompt, tokens=list(enc.tokens), token_ids=list(enc.ids), n_layers=lm.n_layers,
        features=_feature_table(nodes, selected), adjacency=adjacency.numpy(), targets=targets,
        node_mask=pruned.node_mask.numpy(), edge_mask=pruned.edge_mask.numpy(), influence=pruned.influence.numpy(),
        cumulative=pruned.cumulative.numpy(),
        scores={"replacement": replacement, "completeness": completeness,
                "pruned_replacement": pruned_replacement, "pruned_completeness": pruned_completeness},
        params=params,
    )  # fmt: skip


def _target_table(lm: LM, ids: list[int], probs: torch.Tensor, values: torch.Tensor) -> list[dict[str, Any]]:
    return [{"token": lm.decode_tokens([t])[0], "id": int(t), "probability": float(p), "value": float(v)}
            for t, p, v in zip(ids, probs, values)]  # fmt: skip


def _feature_table(nodes: Nodes, selected: torch.Tensor) -> np.ndarray:
    table = torch.stack([nodes.layer[selected].double(), nodes.pos[selected].double(),
                         nodes.latent[selected].double(), nodes.activation[selected].double()], dim=1)  # fmt: skip
    return table.numpy() if len(selected) else np.zeros((0, 4))


def _counts(
    nodes: Nodes,
    graph: AttributionGraph,
    budget: int,
    n_logits: int,
    batch_size: int,
    skip_first: bool,
    constant_first: bool,
) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "active_features": nodes.n_features,
        "feature_rows": budget,
        "logit_nodes": n_logits,
        "kept_nodes": int(graph.node_mask.sum()),
        "kept_edges": int(graph.edge_mask.sum()),
        "backward_passes": -(-n_logits // batch_size) + -(-budget // batch_size),
    }
    if constant_first:
        counts["skipped"] = (
            "the first position holds a special token, the attention sink: its MLP outputs are part of the "
            "constant term (no feature or error nodes there)"
        )
    elif skip_first:
        counts["skipped"] = "the first position's features (the attention sink) are part of its error node"
    return counts


def _identity(computer: RowComputer, rows: torch.Tensor, values: torch.Tensor, logit_ids: list[int]) -> dict[str, Any]:
    """Each logit's value against the sum of all its incoming edges plus the frozen model's constant term."""
    _, bias_logits = computer.forward.bias()
    bias = torch.stack([bias_logits[0, t] - bias_logits[0].mean() for t in logit_ids])
    gap = (values - rows.double().sum(1).float() - bias).abs()
    scale = torch.maximum(values.abs(), rows.abs().sum(1)).clamp(min=1e-12)
    return {
        "max_relative_residual": float((gap / scale).max()),
        "constant_terms": [float(b) for b in bias],
        "note": "value = Σ incoming edges (all active features, errors, tokens) + constant term; "
        "the residual is fp32 rounding relative to the summed edge magnitudes",
    }
