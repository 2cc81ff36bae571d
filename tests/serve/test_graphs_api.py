"""``/api/graphs``: served transcoder sets, graph jobs, interventions against the graph's prediction, node contexts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from pellucid.errors import InvalidInputError
from pellucid.features.attribution import FeatureNode
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.graph.transcoders import TranscoderSet, load_transcoders
from pellucid.features.graph.validate import predicted_change
from pellucid.features.interventions import scaled_logits
from pellucid.monitor import Store
from pellucid.monitor.records import NewRecord
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from pellucid.service.graph_views import check_transcoder_sets
from pellucid.settings import Settings
from tests.features.graph_support import random_transcoders, save_transcoders
from tests.support.tiny import CORPUS

PROMPT = "a b c d e f"
OPTIONS = {"max_feature_nodes": 40, "node_threshold": 0.9, "edge_threshold": 0.98}


@dataclass
class Served:
    client: TestClient
    lm: Any
    transcoders: TranscoderSet
    folder: Path


@pytest.fixture(scope="module")
def served(tiny_lm, test_settings, tmp_path_factory) -> Iterator[Served]:
    folder = save_transcoders(random_transcoders(tiny_lm, seed=3), tmp_path_factory.mktemp("sets") / "tc")
    settings = test_settings.with_overrides(default_model=tiny_lm.name, transcoders=(folder,))
    pool = ModelPool(settings)
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('graphs') / 'monitor.db'}")
    store.repo.insert_records([NewRecord(prompt=t, response=t, model=tiny_lm.name) for t in CORPUS[:6]])
    try:
        with TestClient(create_app(settings, pool, store)) as client:
            yield Served(client, tiny_lm, load_transcoders(folder, tiny_lm), folder)
    finally:
        store.close()


def _finished(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    started = client.post("/api/graphs", json=body)
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = client.get(f"/api/graphs/{started.json()['id']}").json()
        if job["status"] not in ("queued", "running"):
            assert job["status"] == "done", job["error"]
            return job
        time.sleep(0.05)
    raise AssertionError("the graph job did not finish")


@pytest.fixture(scope="module")
def job(served: Served) -> dict[str, Any]:
    return _finished(served.client, {"prompt": PROMPT, "transcoders": "tc", **OPTIONS})


def _without_timings(graph: dict[str, Any]) -> dict[str, Any]:
    graph = json.loads(json.dumps(graph))
    graph["meta"].pop("seconds")
    return graph


def test_the_served_sets_are_listed_from_their_configurations(served: Served) -> None:
    sets = served.client.get("/api/graphs/transcoders").json()
    assert sets == [
        {"name": "tc", "folder": str(served.folder), "model": served.lm.name,
         "layers": list(range(served.lm.n_layers)), "width": 48, "architecture": ["topk"], "skip": []}
    ]  # fmt: skip


def test_the_job_answers_the_graph_the_library_builds(served: Served, job: dict[str, Any]) -> None:
    expected = attribution_graph(served.lm, PROMPT, served.transcoders, **OPTIONS).to_dict()
    assert job["params"] == {"model": served.lm.name, "transcoders": "tc", "prompt": PROMPT, "chat": False}
    assert job["progress"]["fraction"] == 1.0 and job["steps"][0]["nodes"] == len(expected["nodes"])
    assert _without_timings(job["graph"]) == _without_timings(expected)
    exported = served.client.get(f"/api/graphs/{job['id']}/neuronpedia").json()
    assert {n["node_id"] for n in exported["nodes"]} and exported["metadata"]["prompt"] == PROMPT


def _first_feature(job: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in job["graph"]["nodes"] if n["kind"] == "feature")


def test_scale_one_changes_nothing(served: Served, job: dict[str, Any]) -> None:
    node = _first_feature(job)
    body = {"prompt": PROMPT, "transcoders": "tc", "graph": job["id"],
            "interventions": [{"nodes": [node["id"]], "scale": 1.0}]}  # fmt: skip
    answer = served.client.post("/api/graphs/intervene", json=body).json()
    before, after = answer["before"], answer["after"]
    assert [t["id"] for t in after["top"]] == [t["id"] for t in before["top"]]  # the same next tokens, decided exactly
    for old, new in zip(before["top"], after["top"], strict=True):
        assert new["probability"] == pytest.approx(old["probability"], rel=1e-5)
    # scale 1 adds (1 - 1) · a · W_dec, an exact zero: only the pass's last bits may differ, relative to the logit
    assert abs(answer["measured"]) <= 1e-5 * abs(before["target_value"])
    assert answer["predicted"] == 0.0 and answer["predicted_direct"] == 0.0  # (scale - 1) = 0 times each edge: exact
    assert answer["nodes"][0]["activation"] == pytest.approx(node["activation"], rel=1e-5)


def test_ablating_a_feature_measures_what_the_real_model_does(served: Served, job: dict[str, Any]) -> None:
    from pellucid.features.graph.result import AttributionGraph

    nodes = [n for n in job["graph"]["nodes"] if n["kind"] == "feature"][:2]
    body = {"prompt": PROMPT, "transcoders": "tc", "graph": job["id"],
            "interventions": [{"nodes": [n["id"] for n in nodes], "scale": 0.0}]}  # fmt: skip
    answer = served.client.post("/api/graphs/intervene", json=body).json()
    # the same ablation straight through features/interventions
    lm, tc = served.lm, served.transcoders
    ids = torch.tensor([job["graph"]["token_ids"]])
    target = job["graph"]["targets"][0]["id"]
    groups = [(tc[n["layer"]], [FeatureNode(n["latent"], n["position"], "", n["activation"], 0.0)], 0.0) for n in nodes]
    before, after = scaled_logits(lm, ids, groups)
    change = float((after[0, -1, target] - after[0, -1].mean()) - (before[0, -1, target] - before[0, -1].mean()))
    assert answer["target"]["id"] == target
    assert answer["measured"] == pytest.approx(change, rel=1e-4, abs=1e-6 * abs(before[0, -1]).max().item())
    assert answer["measured"] != 0.0
    # the prediction is the graph's own (validate.predicted_change) on the graph the job kept
    graph = served.client.app.state.pellucid.jobs.get(job["id"]).result  # type: ignore[attr-defined]
    assert isinstance(graph, AttributionGraph)
    index = {graph.node_id(i): i for i in range(graph.n_features)}
    direct, total = predicted_change(graph, [index[n["id"]] for n in nodes], [0.0, 0.0])
    assert (answer["predicted_direct"], answer["predicted"]) == (direct, total)
    assert answer["after"]["target_value"] - answer["before"]["target_value"] == answer["measured"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"transcoders": "nope"}, "'nope'"),
        ({"node_threshold": 1.5}, "node_threshold=1.5"),
        ({"max_tokens": 3}, "max_tokens=3"),
        ({"max_feature_nodes": 10_000}, "max_feature_nodes=10000"),
        ({"target": " b c d"}, "target=' b c d'"),
    ],
)
def test_bad_graph_requests_are_refused_before_any_work(served: Served, body: dict[str, Any], named: str) -> None:
    before = len(served.client.app.state.pellucid.jobs.jobs())  # type: ignore[attr-defined]
    answer = served.client.post("/api/graphs", json={"prompt": PROMPT, "transcoders": "tc", **body})
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["error"]["message"]
    assert len(served.client.app.state.pellucid.jobs.jobs()) == before  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("node", "named"),
    [("err1@2", "'err1@2' is a error node"), ("tok@1", "is a token node"), ("F9.1@1", "layer 9 has no transcoder"),
     ("F0.1@40", "position 40"), ("F0.999@1", "latent 999 does not exist"), ("Fx", "'Fx' is not a node id")],
)  # fmt: skip
def test_interventions_on_other_nodes_are_refused(served: Served, job: dict[str, Any], node: str, named: str) -> None:
    body = {"prompt": PROMPT, "transcoders": "tc", "interventions": [{"nodes": [node], "scale": 0.0}]}
    answer = served.client.post("/api/graphs/intervene", json=body)
    assert answer.status_code == 422 and named in answer.json()["error"]["message"], answer.text


def test_an_intervention_on_another_prompt_than_the_graph_is_refused(served: Served, job: dict[str, Any]) -> None:
    body = {"prompt": "a b c", "transcoders": "tc", "graph": job["id"],
            "interventions": [{"nodes": [_first_feature(job)["id"]], "scale": 0.0}]}  # fmt: skip
    answer = served.client.post("/api/graphs/intervene", json=body)
    assert answer.status_code == 422 and "another prompt" in answer.json()["error"]["message"]


def test_a_feature_node_has_its_feature_page(served: Served, job: dict[str, Any]) -> None:
    node = _first_feature(job)
    page = served.client.get(f"/api/graphs/tc/features/{node['layer']}/{node['latent']}").json()
    assert (page["set"], page["layer"], page["feature"]) == ("tc", node["layer"], node["latent"])
    assert page["site"] == f"blocks.{node['layer']}.mlp.in" and page["tokens_read"] > 0
    assert page["contexts"], "the logged texts hold contexts where the latent fires"
    for context in page["contexts"]:  # activations are rounded to 6 decimals, the peak's maximum is not
        assert context["activations"][context["peak"]] == pytest.approx(context["max"], abs=1e-6)
        assert context["max"] == pytest.approx(max(context["activations"]), abs=1e-6)


def test_a_bad_folder_fails_at_startup_with_the_graph_errors(tmp_path: Path, tiny_lm) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        check_transcoder_sets([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no transcoder"):
        check_transcoder_sets([tmp_path / "empty"])
    env = {"PELLUCID_TRANSCODERS": f"{tmp_path / 'a'}:{tmp_path / 'b'}"}
    assert Settings.from_env(env).transcoders == (tmp_path / "a", tmp_path / "b")


def test_the_prediction_is_linear_in_the_scale_and_jobs_are_checked(served: Served, job: dict[str, Any]) -> None:
    graph = served.client.app.state.pellucid.jobs.get(job["id"]).result  # type: ignore[attr-defined]
    chosen = [0, 1]
    direct, total = predicted_change(graph, chosen)  # the self-check's ablation
    assert predicted_change(graph, chosen, [0.0, 0.0]) == (direct, total)
    assert predicted_change(graph, chosen, [1.0, 1.0]) == (0.0, 0.0)
    doubled = predicted_change(graph, chosen, [2.0, 2.0])  # (s - 1) a: doubling is minus removing
    assert doubled[0] == pytest.approx(-direct, rel=1e-12) and doubled[1] == pytest.approx(-total, rel=1e-12)
    cancel = served.client.delete(f"/api/graphs/{job['id']}")
    assert cancel.status_code == 409 and "done already" in cancel.json()["error"]["message"]
    body = {
        "prompt": PROMPT,
        "transcoders": "tc",
        "graph": "nope",
        "interventions": [{"nodes": ["F0.1@1"], "scale": 0}],
    }
    missing = served.client.post("/api/graphs/intervene", json=body)
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"]["message"]


def test_serve_refuses_a_bad_transcoder_folder_before_starting(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    (tmp_path / "tc").mkdir()
    result = CliRunner().invoke(app, ["serve", "--transcoders", str(tmp_path / "tc")], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert "--transcoders tc" in result.output and "holds no transcoder" in result.output
