"""/api/datasets: open a file (uploaded, or by path on a token-less server), page it, run the model
over examples, and aggregate explanations into one ranking of words."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from pellucid.serve.app import create_app
from pellucid.service import ModelPool

ROWS = "".join(json.dumps({"text": f"review number {i}", "label": i % 2}) + "\n" for i in range(12))


def test_upload_then_pages(app):
    with TestClient(app) as client:
        first = client.post("/api/datasets", json={"name": "reviews.jsonl", "text": ROWS, "limit": 5}).json()
        assert (first["name"], first["total"], first["offset"]) == ("reviews.jsonl", 12, 0)
        assert [e["row"] for e in first["examples"]] == [1, 2, 3, 4, 5]
        assert first["examples"][1]["target"] == " positive"
        last = client.get(f"/api/datasets/{first['id']}/examples", params={"offset": 10, "limit": 5}).json()
        assert [e["row"] for e in last["examples"]] == [11, 12]
        assert client.get("/api/datasets/feedfeedfeedfeed/examples").status_code == 422


def test_path_refusals_name_the_problem(app, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("title,score\nHello,3\n")
    with TestClient(app) as client:
        missing = client.post("/api/datasets", json={"path": str(tmp_path / "nope.jsonl")})
        assert missing.status_code == 422 and "No data-set file" in missing.json()["error"]["message"]
        columns = client.post("/api/datasets", json={"path": str(wrong)})
        assert columns.status_code == 422 and "['score', 'title']" in columns.json()["error"]["message"]
        both = client.post("/api/datasets", json={"path": str(wrong), "name": "a.csv", "text": "text\nx\n"})
        assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
        good = tmp_path / "good.csv"
        good.write_text("text,label\nfine,1\n")
        assert client.post("/api/datasets", json={"path": str(good)}).json()["total"] == 1


def test_a_server_with_a_token_reads_no_path(tiny_lm, settings, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("text,label\nfine,1\n")
    guarded = settings.with_overrides(default_model=tiny_lm.name, api_token="s3cret")
    pool = ModelPool(guarded)
    pool.add(tiny_lm)
    with TestClient(create_app(guarded, pool)) as client:
        headers = {"Authorization": "Bearer s3cret"}
        res = client.post("/api/datasets", json={"path": str(good)}, headers=headers)
        assert res.status_code == 422 and "upload the file instead" in res.json()["error"]["message"]
        upload = client.post("/api/datasets", json={"name": "good.csv", "text": good.read_text()}, headers=headers)
        assert upload.json()["total"] == 1


def test_run_answers_and_scores(app):
    with TestClient(app) as client:
        body = {"examples": [{"prompt": "Hello"}, {"prompt": "Is it good?", "target": " yes"}], "max_new_tokens": 2}
        runs = client.post("/api/datasets/run", json=body).json()
        assert [r["prompt"] for r in runs] == ["Hello", "Is it good?"]
        assert runs[0]["metrics"]["target_logprob"] is None and runs[1]["metrics"]["target_logprob"] < 0


def test_aggregate_of_explained_rows(app):
    with TestClient(app) as client:
        ex = client.post(
            "/api/explanations", json={"prompt": "good film", "target": " yes", "method": "occlusion"}
        ).json()
        once = client.post("/api/datasets/aggregate", json={"explanations": [ex]}).json()
        twice = client.post("/api/datasets/aggregate", json={"explanations": [ex, ex]}).json()
        assert [(w["word"], w["mean"]) for w in twice] == [(w["word"], w["mean"]) for w in once]
        words = {w["word"] for w in once}
        assert {"good", "film"} <= words and all(w["rows"] == 1 for w in once)
        lens = {**ex, "axes": ["layer", "position"], "labels": {"layer": ["0"], "position": ["a"]}, "scores": [[1.0]]}
        refused = client.post("/api/datasets/aggregate", json={"explanations": [lens]})
        assert refused.status_code == 422 and "over the input" in refused.json()["error"]["message"]


def test_an_explanation_whose_scores_do_not_fit_its_axes_is_a_422_naming_it(app):
    with TestClient(app) as client:
        ex = client.post(
            "/api/explanations", json={"prompt": "good film", "target": " yes", "method": "occlusion"}
        ).json()
        broken = {"axes": [], "labels": {}, "method": "", "model": "", "scores": []}
        res = client.post("/api/datasets/aggregate", json={"explanations": [ex, broken]})
        assert res.status_code == 422, res.text
        assert "explanations[2]" in res.json()["error"]["message"]
