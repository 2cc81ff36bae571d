"""The API in-process: health, generate, score, errors as JSON."""

import pytest
from fastapi.testclient import TestClient

from pellucid.serve.app import create_app
from pellucid.service import ModelPool


@pytest.fixture()
def client(tiny_lm, settings):
    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    return TestClient(create_app(pool.settings, pool))


def test_health_and_index(client, tiny_lm):
    data = client.get("/api/health").json()
    assert data["status"] == "ok" and data["loaded_models"] == [tiny_lm.name]
    page = client.get("/health")
    assert page.status_code == 200 and "Pellucid" in page.text and tiny_lm.name in page.text
    assert client.get("/").status_code == 200  # the workbench (or how to build it)


def test_generate_and_score(client, tiny_lm):
    res = client.post("/api/generate", json={"prompt": "Hello there", "max_new_tokens": 3})
    assert res.status_code == 200
    assert res.json()["token_ids"] == tiny_lm.generate("Hello there", max_new_tokens=3).token_ids
    res = client.post("/api/score", json={"prompt": "Hello", "target": " there", "raw": True})
    assert res.json()["total"] == pytest.approx(tiny_lm.score("Hello", " there", chat=False).total, abs=1e-5)


def test_errors_are_json(client):
    res = client.post("/api/generate", json={"prompt": "   "})
    assert res.status_code == 422 and "empty" in res.json()["error"]["message"]
    res = client.post("/api/generate", json={"prompt": "hi", "model": "no-such-model"})
    assert res.status_code == 404 and "Bundled models" in res.json()["error"]["message"]
    res = client.post("/api/generate", json={"prompt": "hi", "max_new_tokens": -1})
    assert res.status_code == 422
