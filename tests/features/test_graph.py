"""Attribution graphs end to end on the tiny model: pruning on a known graph, the result's forms, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from pellucid.cli.main import app
from pellucid.errors import InvalidInputError, PromptTooLongError
from pellucid.features.graph import prune as pr
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.graph.result import AttributionGraph
from pellucid.features.graph.transcoders import TranscoderSet, load_transcoders
from tests.features.graph_support import random_transcoder, random_transcoders, save_transcoders

PROMPT = "a b c d e f"


# nodes: f0, f1 | err0 | tok0 | logit  — logit ← f1 (3), tok0 (1); f1 ← f0 (2), err0 (-2); f0 ← tok0 (1)
TOY = torch.tensor(
    [
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [2.0, 0.0, -2.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 3.0, 0.0, 1.0, 0.0],
    ]
)
TOY_LAYOUT = pr.Layout(n_features=2, n_errors=1, n_tokens=1, n_logits=1)


def test_influence_and_scores_of_a_known_graph() -> None:
    weights = TOY_LAYOUT.logit_weights(torch.tensor([1.0]))
    influence = pr.influence(pr.normalise(TOY), weights)
    assert influence.tolist() == pytest.approx([0.375, 0.75, 0.375, 0.625, 0.0])
    replacement, completeness = pr.scores(TOY, TOY_LAYOUT, torch.tensor([1.0]))
    assert replacement == pytest.approx(0.625)  # 0.625 from the token, 0.375 from the error
    assert completeness == pytest.approx(2.75 / 3.125)  # f1 takes half its input from the error


def test_pruning_keeps_the_strong_path_and_drops_dangling_nodes() -> None:
    # influences f1 .75, tok .625, f0 .375, err .375 of 2.125: 0.9 keeps every node; edge scores
    # .75 (f1→logit), .375 three times, .25 (tok→logit): 0.8 of 2.125 drops only tok→logit
    pruned = pr.prune(TOY, TOY_LAYOUT, torch.tensor([1.0]), node_threshold=0.9, edge_threshold=0.8)
    assert pruned.node_mask.all()
    assert pruned.edge_mask.nonzero().tolist() == [[0, 3], [1, 0], [1, 2], [4, 1]]
    # 0.6 keeps f1 and the token only; f1 then has no kept input, so it goes too
    pruned = pr.prune(TOY, TOY_LAYOUT, torch.tensor([1.0]), node_threshold=0.6, edge_threshold=0.8)
    assert pruned.node_mask.tolist() == [False, False, False, True, True]
    assert pruned.cumulative[[1, 3]].tolist() == pytest.approx([0.75 / 2.125, 1.375 / 2.125])  # f1, then the token
    with pytest.raises(InvalidInputError, match="node_threshold=1.5"):
        pr.prune(TOY, TOY_LAYOUT, torch.tensor([1.0]), 1.5, 0.9)


@pytest.fixture(scope="module")
def graph(tiny_lm) -> AttributionGraph:
    return attribution_graph(tiny_lm, PROMPT, random_transcoders(tiny_lm), max_feature_nodes=40, batch_size=16)


def test_the_graph_reports_scores_checks_and_times(graph: AttributionGraph) -> None:
    assert 0 < graph.scores["replacement"] <= 1 and 0 < graph.scores["completeness"] <= 1
    assert graph.meta["feature_rows"] == graph.n_features == 40 < graph.meta["active_features"]
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5
    assert sum(t["probability"] for t in graph.targets) >= 0.95 or len(graph.targets) == 10
    check = graph.meta["self_check"]
    assert check["ablated"] == 5 and np.isfinite(check["measured"]) and np.isfinite(check["predicted"])
    ratio = check["measured"] / check["predicted"]
    assert check["holds"] == (0.5 <= ratio <= 2.0) and ("warning" in check) == (not check["holds"])
    assert graph.meta["seconds"]["total"] >= graph.meta["seconds"]["feature_rows"] > 0
    assert (graph.features[:, 1] > 0).all()  # the attention sink's features are part of its error node


@pytest.mark.parametrize(
    ("measured", "predicted", "holds"),
    [(-1.0, -1.2, True), (-2.0, -1.0, True), (-0.33, -2.59, False), (0.1, -1.0, False), (-1.0, 0.0, False)],
)
def test_a_self_check_that_disagrees_says_so(measured: float, predicted: float, holds: bool) -> None:
    from pellucid.features.graph.validate import CONSEQUENCE
    from pellucid.features.self_check import verdict as judge

    verdict = judge(measured, predicted, CONSEQUENCE)
    assert verdict["holds"] is holds
    if not holds:  # the warning names both figures, so the reader sees how far apart they are
        assert f"{measured:.3g}" in verdict["warning"] and f"{predicted:.3g}" in verdict["warning"]


def test_the_json_graph_is_consistent(graph: AttributionGraph) -> None:
    data = json.loads(json.dumps(graph.to_dict()))
    ids = [node["id"] for node in data["nodes"]]
    assert len(ids) == len(set(ids)) == int(graph.node_mask.sum())
    assert {e["source"] for e in data["edges"]} | {e["target"] for e in data["edges"]} <= set(ids)
    kinds = {node["kind"] for node in data["nodes"]}
    assert {"token", "logit"} <= kinds and data["schema_version"] == 1
    strongest = data["edges"][0]
    s = ids.index(strongest["source"])
    t = ids.index(strongest["target"])
    kept = np.nonzero(graph.node_mask)[0]
    assert strongest["weight"] == pytest.approx(float(graph.adjacency[kept[t], kept[s]]))


def test_the_neuronpedia_export_follows_circuit_tracers_format(graph: AttributionGraph) -> None:
    data = graph.to_neuronpedia("tiny")
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    assert data["metadata"]["prompt_tokens"] == graph.tokens and data["metadata"]["slug"] == "tiny"
    ids = {node["node_id"] for node in data["nodes"]}
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    logits = [n for n in data["nodes"] if n["feature_type"] == "logit"]
    assert logits[0]["is_target_logit"] and logits[0]["layer"] == str(graph.n_layers + 1)
    assert all(n["layer"] == "E" for n in data["nodes"] if n["feature_type"] == "embedding")


def test_the_arrays_round_trip(graph: AttributionGraph, tmp_path: Path) -> None:
    loaded = AttributionGraph.load_arrays(graph.save_arrays(tmp_path / "graph.npz"))
    assert np.array_equal(loaded.adjacency, graph.adjacency) and loaded.to_dict() == graph.to_dict()


def test_no_hook_remains_after_a_graph(tiny_lm) -> None:
    def count() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in tiny_lm.model.modules())

    before = count()
    attribution_graph(tiny_lm, PROMPT, random_transcoders(tiny_lm), max_feature_nodes=5, verify=1)
    with pytest.raises(PromptTooLongError):
        attribution_graph(tiny_lm, PROMPT * 20, random_transcoders(tiny_lm))
    assert count() == before


def test_a_long_prompt_is_refused_naming_the_limit(tiny_lm) -> None:
    with pytest.raises(PromptTooLongError, match="at most max_tokens=4"):
        attribution_graph(tiny_lm, PROMPT, random_transcoders(tiny_lm), max_tokens=4)


def test_transcoders_for_another_model_or_missing_layers_are_refused(tiny_lm, tmp_path: Path) -> None:
    other = TranscoderSet({layer: random_transcoder(tiny_lm, layer, 0, model="other-model") for layer in range(3)})
    with pytest.raises(InvalidInputError, match="other-model"):
        load_transcoders(save_transcoders(other, tmp_path / "other"), tiny_lm)
    partial = TranscoderSet({layer: random_transcoder(tiny_lm, layer, 0) for layer in (0, 2)})
    with pytest.raises(InvalidInputError, match=r"layers \[1\] are missing"):
        load_transcoders(save_transcoders(partial, tmp_path / "partial"), tiny_lm)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_transcoders(tmp_path / "nowhere", tiny_lm)


def test_a_saved_set_loads_and_gives_the_same_graph(tiny_lm, tmp_path: Path) -> None:
    transcoders = random_transcoders(tiny_lm)
    folder = save_transcoders(transcoders, tmp_path / "tc")
    a = attribution_graph(tiny_lm, PROMPT, transcoders, max_feature_nodes=10, verify=0)
    b = attribution_graph(tiny_lm, PROMPT, folder, max_feature_nodes=10, verify=0)
    assert np.array_equal(a.adjacency, b.adjacency)
    assert b.transcoders == ["tc/layer_0", "tc/layer_1", "tc/layer_2"]


def test_one_target_token_makes_one_logit_node(tiny_lm) -> None:
    graph = attribution_graph(tiny_lm, PROMPT, random_transcoders(tiny_lm), target=" b", max_feature_nodes=5)
    assert len(graph.targets) == 1 and graph.targets[0]["id"] == tiny_lm.encode_target(" b")[0]
    with pytest.raises(InvalidInputError, match="one next token"):
        attribution_graph(tiny_lm, PROMPT, random_transcoders(tiny_lm), target=" b c d")


def test_the_command_writes_both_json_forms(tiny_lm, tiny_dir: Path, tmp_path: Path) -> None:
    folder = save_transcoders(random_transcoders(tiny_lm), tmp_path / "tc")
    out, viewer = tmp_path / "graph.json", tmp_path / "viewer.json"
    args = ["inspect", "graph", PROMPT, "--transcoders", str(folder), "--max-feature-nodes", "10",
            "--json", str(out), "--neuronpedia", str(viewer), "--model", str(tiny_dir)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"PELLUCID_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    assert "replacement score" in result.output and "self-check" in result.output
    assert json.loads(out.read_text())["kind"] == "attribution_graph"
    assert json.loads(viewer.read_text())["metadata"]["slug"] == "viewer"


def test_the_command_checks_the_folder_before_the_model_loads(tmp_path: Path) -> None:
    args = ["inspect", "graph", PROMPT, "--transcoders", str(tmp_path / "none"), "--model", str(tmp_path / "no-model")]
    result = CliRunner().invoke(app, args, env={"PELLUCID_HOME": str(tmp_path / "home")})
    assert result.exit_code != 0 and "is not a folder" in result.output
    bad = ["inspect", "graph", PROMPT, "--transcoders", str(tmp_path), "--node-threshold", "2", "--model", "x"]
    result = CliRunner().invoke(app, bad, env={"PELLUCID_HOME": str(tmp_path / "home")})
    assert result.exit_code != 0 and "node_threshold" in result.output


def test_a_graph_on_the_bundled_model_is_exact_where_it_must_be(smollm) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_graph import random_transcoder

    transcoders = TranscoderSet({layer: random_transcoder(smollm, layer, 512, 8) for layer in range(smollm.n_layers)})
    graph = attribution_graph(smollm, "The Eiffel Tower is located in the city of", transcoders, target=" Paris",
                              max_feature_nodes=32, verify=3)  # fmt: skip
    assert graph.targets[0]["token"] == " Paris" and graph.targets[0]["probability"] > 0.3
    assert graph.meta["completeness_identity"]["max_relative_residual"] < 1e-5
    assert graph.meta["self_check"]["ablated"] == 3 and np.isfinite(graph.meta["self_check"]["measured"])
    # the document-start token, then the prompt's 10 tokens; every prompt token has its k = 8 features
    assert graph.tokens[0] == "<|endoftext|>" and graph.n_pos == 11
    assert graph.meta["feature_rows"] == 32 and graph.meta["active_features"] == 30 * 10 * 8
