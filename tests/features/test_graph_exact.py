"""The graph's exact checks on tiny models: every edge, the completeness identity, perfect transcoders.

Edges come from one batched backward pass; the checks recompute each one independently, with
forward passes only: remove the source from the frozen replacement model (every other source,
attention pattern and norm scale held fixed) and measure how far the target moves. The model is
linear there, so the two must agree to fp32 rounding, relative to the row's magnitude.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pellucid.features.graph.edges import Nodes, RowComputer, Target
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.graph.replacement import FrozenForward, capture
from tests.features.graph_support import exact_model, random_transcoders

IDS = [[5, 17, 33, 80, 120, 7, 9, 44]]
#: the prompt after the document-start token (``<|endoftext|>``, id 0 in the tiny tokenizers)
SINK_IDS = [[0, 17, 33, 80, 120, 7, 9, 44]]


def _setup(lm, skip: bool = False, ids: list[list[int]] = IDS, **first: bool):
    transcoders = random_transcoders(lm, seed=3, skip=skip)
    cap = capture(lm, torch.tensor(ids), transcoders, **first)
    forward = FrozenForward(lm, cap)
    nodes = Nodes.of(cap)
    return transcoders, cap, forward, nodes, RowComputer(forward, nodes)


def _value(target: Target, nodes: Nodes, transcoders, inputs, logits) -> float:
    if target.token >= 0:
        return float(logits[0, target.token] - logits[0].mean())
    layer, pos, latent = (int(t[target.feature]) for t in (nodes.layer, nodes.pos, nodes.latent))
    tc = transcoders[layer]
    return float((inputs[layer][0, pos] @ tc.W_enc[:, latent] + tc.b_enc[latent]).detach())


def _removed(forward: FrozenForward, nodes: Nodes, cap, transcoders, source: int):
    """The frozen forward with one source's vector subtracted where it is written."""
    delta_embed, delta_mlp = forward.zeros(1)
    if source < nodes.n_features:
        layer, pos, latent = (int(t[source]) for t in (nodes.layer, nodes.pos, nodes.latent))
        delta_mlp[layer][0, pos] -= nodes.activation[source] * transcoders[layer].W_dec[latent].detach()
    elif source < nodes.token_offset:
        layer, pos = divmod(source - nodes.error_offset, nodes.n_pos)
        delta_mlp[layer][0, pos] -= cap.error[layer][pos]
    else:
        delta_embed[0, source - nodes.token_offset] -= cap.embed[source - nodes.token_offset]
    with torch.no_grad():
        return forward.run(delta_embed, delta_mlp)


def _targets(cap, nodes: Nodes) -> list[Target]:
    late = [f for f in range(nodes.n_features) if int(nodes.layer[f]) == nodes.n_layers - 1]
    mid = [f for f in range(nodes.n_features) if int(nodes.layer[f]) == 1]
    return [Target(token=int(cap.logits.argmax())), Target(feature=late[0]), Target(feature=mid[-1])]


def _check_every_edge(lm, transcoders, cap, forward, nodes, computer) -> None:
    targets = _targets(cap, nodes)
    rows, values = computer.rows(targets)
    with torch.no_grad():
        clean_inputs, clean_logits = forward.run(*forward.zeros(1))
    for b, target in enumerate(targets):
        value = _value(target, nodes, transcoders, clean_inputs, clean_logits)
        assert value == pytest.approx(float(values[b]), rel=1e-5, abs=1e-6 * float(rows[b].abs().max()))
        scale = float(rows[b].abs().max())
        assert scale > 0
        for source in range(nodes.n_sources):
            moved = value - _value(target, nodes, transcoders, *_removed(forward, nodes, cap, transcoders, source))
            assert abs(moved - float(rows[b, source])) <= 1e-4 * scale, (target, source, moved, float(rows[b, source]))


def _check_identity(transcoders, cap, forward, nodes, computer) -> None:
    """Each target's incoming edges plus the frozen model's constant term make its value."""
    targets = _targets(cap, nodes)
    rows, values = computer.rows(targets)
    bias_inputs, bias_logits = forward.bias()
    for b, target in enumerate(targets):
        constant = _value(target, nodes, transcoders, bias_inputs, bias_logits)
        total = float(rows[b].double().sum()) + constant
        assert total == pytest.approx(float(values[b]), abs=1e-5 * float(rows[b].abs().sum()))


@pytest.mark.parametrize("family", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_every_edge_equals_the_effect_of_removing_its_source(family: str, request: pytest.FixtureRequest) -> None:
    _check_every_edge(request.getfixturevalue(family), *_setup(request.getfixturevalue(family)))


#: the first position's three treatments: the attention sink without nodes or skip term (the default for a
#: prompt without a special first token), everything kept, and a constant special token
FIRST = {"sink": {}, "kept": {"skip_first": False}, "constant": {"constant_first": True}}


@pytest.mark.parametrize("first", sorted(FIRST))
@pytest.mark.parametrize("family", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_skip_transcoders_keep_every_edge_and_the_identity(
    family: str, first: str, request: pytest.FixtureRequest
) -> None:
    lm = request.getfixturevalue(family)
    ids = SINK_IDS if first == "constant" else IDS
    transcoders, cap, forward, nodes, computer = _setup(lm, skip=True, ids=ids, **FIRST[first])
    for layer, error in enumerate(cap.error):
        out0, b_dec = cap.mlp_out[layer][0], transcoders[layer].b_dec.float()
        expected = {"sink": out0 - b_dec, "constant": torch.zeros_like(out0)}.get(first)
        if expected is not None:  # the sink's error is its output less b_dec: no features, no skip term there
            assert torch.equal(error[0], expected), layer
    _check_every_edge(lm, transcoders, cap, forward, nodes, computer)
    _check_identity(transcoders, cap, forward, nodes, computer)


@pytest.mark.parametrize("skip_first", [False, True])
def test_a_skip_term_is_a_linear_path_of_the_frozen_model(tmp_path: Path, skip_first: bool) -> None:
    """MLPs that are only their skip term make the frozen *real* model linear; the replacement must equal it.

    Every decoder row is zero, so each MLP computes ``b_dec + x @ W_skip.T`` exactly. With attention
    patterns and norms frozen the real model is then affine in its embeddings, and the replacement
    model must move exactly as it does under any perturbation: a skip term held constant would not.
    With ``skip_first`` the first position has no skip term in the replacement, so only the later
    positions' embeddings move (causal attention keeps the first position's MLP input as it was).
    """
    from pellucid.models.freezing import Freezer

    lm, transcoders = exact_model(tmp_path / "model", tmp_path / "home", skip=True)
    with torch.no_grad():
        for layer in transcoders.layers:
            transcoders[layer].W_dec.zero_()
    ids = torch.tensor(IDS)
    cap = capture(lm, ids, transcoders, skip_first=skip_first)
    forward = FrozenForward(lm, cap)
    delta_embed, delta_mlp = forward.zeros(1)
    delta_embed += torch.randn(delta_embed.shape, generator=torch.Generator().manual_seed(0))
    if skip_first:
        delta_embed[:, 0] = 0.0
    with torch.no_grad():
        _, replaced = forward.run(delta_embed, delta_mlp)
        _, clean = forward.run(*forward.zeros(1))
        freezer = Freezer(lm)
        with lm.replace_outputs(freezer.capture()):
            lm.forward(ids)
        embed = lm.site("embed").module
        moved = [*freezer.frozen(1), (embed, lambda _m, _x, y: (cap.embed + delta_embed).to(y.dtype))]
        with lm.replace_outputs(moved):
            real = lm.forward(ids, logits_to_keep=1).logits[:, -1].float()
    change = float((real - clean).abs().max())
    assert change > 1e-3 * float(clean.abs().max())  # the perturbation moves the logits
    assert float((replaced - real).abs().max()) <= 1e-4 * change


@pytest.mark.parametrize("family", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_a_constant_first_position_has_no_nodes_and_every_identity_still_holds(
    family: str, request: pytest.FixtureRequest
) -> None:
    lm = request.getfixturevalue(family)
    transcoders = random_transcoders(lm, seed=3)
    cap = capture(lm, torch.tensor(SINK_IDS), transcoders, constant_first=True)
    forward = FrozenForward(lm, cap)
    nodes = Nodes.of(cap)
    computer = RowComputer(forward, nodes)
    assert int((nodes.pos == 0).sum()) == 0  # no feature nodes at the sink
    assert all(int(torch.count_nonzero(e[0])) == 0 for e in cap.error)  # nor error nodes: it is all constant
    assert all(int(torch.count_nonzero(e[1:])) > 0 for e in cap.error)  # the other positions keep theirs
    _check_every_edge(lm, transcoders, cap, forward, nodes, computer)
    _check_identity(transcoders, cap, forward, nodes, computer)


def test_raw_prompts_get_the_document_start_token_and_a_constant_first_position(tiny_lm) -> None:
    transcoders = random_transcoders(tiny_lm)
    plain = tiny_lm.encode("a b c d e f", chat=False)
    graph = attribution_graph(tiny_lm, "a b c d e f", transcoders, max_feature_nodes=50, verify=0)
    assert graph.token_ids == [0, *plain.ids] and graph.tokens[0] == "<|endoftext|>"
    assert graph.params["document_start"] is True and graph.params["constant_first"] is True
    assert "constant term" in graph.meta["skipped"]
    assert not any(int(f[1]) == 0 for f in graph.features)  # no feature node at the sink
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5
    assert graph.prompt == "a b c d e f"  # as given
    again = attribution_graph(tiny_lm, "<|endoftext|>a b c d e f", transcoders, max_feature_nodes=50, verify=0)
    assert again.token_ids == graph.token_ids  # a prompt that starts with it gets no second one
    bare = attribution_graph(tiny_lm, "a b c d e f", transcoders, max_feature_nodes=50, verify=0, document_start=False)
    assert bare.token_ids == list(plain.ids) and bare.params["constant_first"] is False
    assert "error node" in bare.meta["skipped"]


def test_edges_respect_causality(tiny_lm) -> None:
    _, cap, _, nodes, computer = _setup(tiny_lm)
    feature = next(f for f in range(nodes.n_features) if int(nodes.layer[f]) == 1 and int(nodes.pos[f]) == 3)
    row = computer.rows([Target(feature=feature)])[0][0]
    later = (nodes.layer >= 1) | (nodes.pos > 3)
    assert torch.equal(row[: nodes.n_features][later], torch.zeros(int(later.sum())))
    errors = row[nodes.error_offset : nodes.token_offset].reshape(nodes.n_layers, nodes.n_pos)
    # no path reaches these sources at all (later layers, later positions): structurally zero, not small
    assert int(torch.count_nonzero(errors[1:])) == 0 and int(torch.count_nonzero(errors[:, 4:])) == 0
    assert int(torch.count_nonzero(row[nodes.token_offset + 4 :])) == 0


@pytest.mark.parametrize("family", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_incoming_edges_plus_the_constant_term_make_the_target(family: str, request: pytest.FixtureRequest) -> None:
    lm = request.getfixturevalue(family)
    transcoders, cap, forward, nodes, computer = _setup(lm)
    _check_identity(transcoders, cap, forward, nodes, computer)


def test_the_frozen_model_is_linear_and_exact_at_the_prompt(tiny_lm) -> None:
    _, cap, forward, _, _ = _setup(tiny_lm)
    with torch.no_grad():
        _, clean = forward.run(*forward.zeros(1))
        delta_embed, delta_mlp = forward.zeros(1)
        g = torch.Generator().manual_seed(0)
        delta_embed += torch.randn(delta_embed.shape, generator=g)
        delta_mlp[1] += torch.randn(delta_mlp[1].shape, generator=g)
        _, once = forward.run(delta_embed, delta_mlp)
        _, twice = forward.run(2 * delta_embed, [2 * d for d in delta_mlp])
    scale = float(clean.abs().max())
    assert float((clean[0] - cap.logits).abs().max()) <= 1e-5 * scale
    assert float(((twice - clean) - 2 * (once - clean)).abs().max()) <= 1e-4 * float((once - clean).abs().max())


def test_perfect_transcoders_give_complete_graphs(tmp_path: Path) -> None:
    lm, transcoders = exact_model(tmp_path / "model", tmp_path / "home")
    graph = attribution_graph(lm, "a b c d e f", transcoders, max_feature_nodes=1000, skip_first=False, verify=0)
    errors = graph.adjacency[:, graph.n_features : graph.n_features + graph.n_layers * graph.n_pos]
    assert abs(errors).max() <= 1e-6 * abs(graph.adjacency).max()
    assert graph.scores["completeness"] == pytest.approx(1.0, abs=1e-5)
    assert graph.scores["replacement"] == pytest.approx(1.0, abs=1e-5)
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5


def test_perfect_skip_transcoders_give_complete_graphs(tmp_path: Path) -> None:
    lm, transcoders = exact_model(tmp_path / "model", tmp_path / "home", skip=True)
    graph = attribution_graph(lm, "a b c d e f", transcoders, max_feature_nodes=1000, verify=0)
    assert graph.meta["skip_transcoders"] == transcoders.layers
    assert graph.scores["completeness"] == pytest.approx(1.0, abs=1e-5)
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5


def test_random_transcoders_are_far_from_complete(tiny_lm) -> None:
    graph = attribution_graph(tiny_lm, "a b c d e f", random_transcoders(tiny_lm), max_feature_nodes=1000, verify=0)
    assert graph.scores["completeness"] < 0.99
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5
