"""Known answers on the bundled SmolLM2: 'France' drives ' Paris'."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pellucid.attribution import explain

pytestmark = pytest.mark.integration

PROMPT = "What is the capital of France?"


def top_words(ex, k=2):
    row = ex.scores[-1]
    attributed = ex.meta["label_info"]["input"]["attributed"]
    ranked = sorted((v, label.strip()) for v, label, a in zip(row, ex.labels["input"], attributed) if a)
    return [label for _, label in ranked[::-1][:k]]


@pytest.mark.parametrize("method, params", [("occlusion", {}), ("integrated_gradients", {"steps": 16})])
def test_france_is_top2_for_paris(smollm, method, params):
    ex = explain(smollm, PROMPT, " Paris", method=method, **params)
    assert "France" in top_words(ex), top_words(ex, 5)
    assert np.isnan(ex.scores[:, 0]).all()  # the template is shown, not attributed


def test_explanations_api(smollm, test_settings):
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    pool = ModelPool(test_settings)
    pool.add(smollm)
    client = TestClient(create_app(test_settings, pool))
    methods = client.get("/api/methods").json()
    assert {m["name"] for m in methods} >= {"occlusion", "integrated_gradients", "kernel_shap", "attention_rollout"}
    res = client.post("/api/explanations", json={"prompt": PROMPT, "target": " Paris", "method": "occlusion"})
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["axes"] == ["target", "input"] and data["labels"]["target"] == [" Paris", "<sequence>"]
    res = client.post("/api/explanations", json={"prompt": PROMPT, "method": "nope"})
    assert res.status_code == 422 and "Available" in res.json()["error"]["message"]
