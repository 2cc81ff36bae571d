"""No route reads arbitrary files: a model named by a request must be one this server serves."""

from __future__ import annotations

import shutil

import pytest

HOSTILE = [
    "/etc/passwd",
    "../x",
    "../../etc",
    "~/.ssh/id_rsa",
    "some-org/some-model",
    "C:\\\\win.ini",
    "a\x00b",
    "x" * 400,
]


def _calls(model: str) -> list[tuple[str, dict]]:
    return [
        ("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
        ("/v1/completions", {"model": model, "prompt": "hi", "max_tokens": 2}),
        ("/api/generate", {"model": model, "prompt": "hi", "max_new_tokens": 2}),
        ("/api/score", {"model": model, "prompt": "hi", "target": "there"}),
        ("/api/explanations", {"model": model, "prompt": "hi", "target": "there"}),
    ]


@pytest.mark.parametrize("model", HOSTILE)
def test_requests_naming_paths_or_hub_ids_get_4xx_and_load_nothing(hardened, load_spy, model):
    gw = hardened()
    before = gw.app.state.pellucid.models.loaded()
    for path, body in _calls(model):
        res = gw.client.post(path, json=body)
        assert 400 <= res.status_code < 500, (path, model, res.status_code, res.text)
        assert "error" in res.json() or "detail" in res.json()
    assert load_spy == []
    assert gw.app.state.pellucid.models.loaded() == before


def test_unknown_model_message_is_clear(hardened, load_spy):
    gw = hardened()
    res = gw.chat(model="/etc/passwd")
    assert res.status_code == 404
    error = res.json()["error"]
    assert error["code"] == "model_not_found" and "not served here" in error["message"]
    assert "PELLUCID_ALLOW_MODEL_PATHS" in error["message"]


def test_enricher_gets_the_guarded_pool(hardened, load_spy):
    """Records keep the model a client asked for; background enrichment must not load it either."""
    gw = hardened()
    pool = gw.app.state.pellucid.models
    from pellucid.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        pool.get("/etc/passwd")
    assert load_spy == []


def test_allow_model_paths_lets_an_operator_open_a_folder(hardened, tiny_dir, tmp_path):
    allowed = tmp_path / "models"
    shutil.copytree(tiny_dir, allowed / "tiny-copy")
    gw = hardened(allow_model_paths=(allowed,))
    inside = str(allowed / "tiny-copy")
    res = gw.client.post("/api/generate", json={"model": inside, "prompt": "hi", "max_new_tokens": 2})
    assert res.status_code == 200, res.text
    assert inside in gw.app.state.pellucid.models.loaded()
    escape = str(allowed / ".." / "elsewhere")
    assert gw.client.post("/api/generate", json={"model": escape, "prompt": "hi"}).status_code == 404
    assert gw.client.post("/api/generate", json={"model": str(tiny_dir), "prompt": "hi"}).status_code == 404
