"""``/api/inspect``: every verb over HTTP on the tiny model answers the Explanation the library gives."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

import pellucid.inspect as pi
from pellucid.serve.app import create_app
from pellucid.serve.routers.inspect import VERBS
from pellucid.service import ModelPool
from pellucid.types import Explanation

PROMPT = "The Eiffel Tower is in the city of"
CORRUPTED = "The Colosseum is in the city of"


@pytest.fixture()
def client(tiny_lm, settings):
    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    return TestClient(create_app(pool.settings, pool))


def _post(client: TestClient, verb: str, **body) -> Explanation:
    res = client.post(f"/api/inspect/{verb}", json=body)
    assert res.status_code == 200, res.text
    return Explanation.from_dict(res.json())


def _same(a: Explanation, b: Explanation) -> None:
    assert a.axes == b.axes and a.labels == b.labels and a.method == b.method
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5, equal_nan=True)


def test_verbs_are_described_for_forms(client):
    verbs = {v["name"]: v for v in client.get("/api/inspect").json()}
    assert set(verbs) == set(VERBS)
    params = {p["name"]: p for p in verbs["logit_lens"]["params"]}
    assert params["score"]["choices"] == ["prob", "logprob", "rank"] and params["score"]["default"] == "prob"
    assert (params["top_k"]["type"], params["top_k"]["min"], params["top_k"]["max"]) == ("int", 1, 50)
    assert params["layers"]["type"] == "int_list" and params["prompt"]["widget"] == "text"
    assert params["chat"]["type"] == "bool" and params["chat"]["default"] is False
    probe = {p["name"]: p for p in verbs["probe"]["params"]}
    assert probe["examples"]["required"] and probe["examples"]["type"] == "str_list"
    assert all(v["description"] for v in verbs.values())


@pytest.mark.parametrize(
    ("verb", "body", "direct"),
    [
        ("attention", {"layers": [1], "heads": [0, 2]}, lambda lm: pi.attention(lm, PROMPT, layers=[1], heads=[0, 2])),
        ("head_summary", {}, lambda lm: pi.head_summary(lm, PROMPT)),
        ("logit_lens", {"score": "rank"}, lambda lm: pi.logit_lens(lm, PROMPT, score="rank")),
        (
            "direct_logit",
            {"target": " Paris", "foil": " Rome", "by": "head"},
            lambda lm: pi.direct_logit_attribution(lm, PROMPT, target=" Paris", foil=" Rome", by="head"),
        ),
        ("ablate", {"target": " Paris"}, lambda lm: pi.ablate(lm, PROMPT, target=" Paris")),
        (
            "trace",
            {"target": " Paris", "subject": "Eiffel Tower", "samples": 3},
            lambda lm: pi.trace(lm, PROMPT, target=" Paris", subject="Eiffel Tower", samples=3),
        ),
    ],
)
def test_verb_matches_the_library(client, tiny_lm, verb, body, direct):
    key = "clean" if verb in ("patch", "attribution_patch") else "prompt"
    _same(_post(client, verb, **{key: PROMPT}, **body), direct(tiny_lm))


def test_patching_verbs(client, tiny_lm):
    got = _post(client, "patch", clean=PROMPT, corrupted=CORRUPTED, target=" Paris", align=True)
    _same(got, pi.patch(tiny_lm, PROMPT, CORRUPTED, target=" Paris", align=True))
    assert got.axes == ("layer", "position")
    est = _post(
        client, "attribution_patch", clean=PROMPT, corrupted=CORRUPTED, target=" Paris", site="heads", align=True
    )
    assert est.axes == ("layer", "head") and np.isfinite(est.scores).all()


def test_probe_from_inline_examples(client):
    lines = [f"{'pos' if i % 2 else 'neg'}: {'great lovely fine' if i % 2 else 'awful bad sad'} {i}" for i in range(12)]
    ex = _post(client, "probe", examples=lines, cv=2, control=False, layers=[0, 2])
    assert ex.axes == ("layer", "metric") and ex.labels["layer"] == ["0", "2"] and "accuracy" in ex.labels["metric"]
    assert np.nanmax(ex.scores) <= 1.0


def test_errors_are_clear_json(client):
    res = client.post("/api/inspect/nope", json={})
    assert res.status_code == 404 and "Available: attention" in res.json()["error"]["message"]
    res = client.post("/api/inspect/logit_lens", json={"prompt": PROMPT, "score": "odds", "top_k": 0})
    msg = res.json()["error"]["message"]
    assert res.status_code == 422 and "score" in msg and "top_k" in msg
    res = client.post("/api/inspect/attention", json={"prompt": PROMPT, "typo": 1})
    assert res.status_code == 422 and "typo" in res.json()["error"]["message"]
    res = client.post("/api/inspect/attention", content=b"{not json", headers={"content-type": "application/json"})
    assert res.status_code == 422 and res.json()["error"]["type"] == "ValidationError"
    res = client.post("/api/inspect/trace", json={"prompt": PROMPT, "subject": "Big Ben"})
    assert res.status_code == 422 and "Big Ben" in res.json()["error"]["message"]
    res = client.post("/api/inspect/probe", json={"examples": ["no colon here"] * 4})
    assert res.status_code == 422 and "label: text" in res.json()["error"]["message"]
    res = client.post("/api/inspect/head_summary", json={"prompt": PROMPT, "model": "no-such-model"})
    assert res.status_code == 404
