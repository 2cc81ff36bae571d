"""``POST /api/counterfactuals``: an edited prompt or a generator's edits, answered and scored by the
counterfactual engine; the figures agree with ``LM.score``; bad requests get clear errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pellucid.counterfactual.base import Edit
from pellucid.counterfactual.compare import counterfactual
from pellucid.serve.app import create_app
from pellucid.serve.routers.counterfactual import MAX_EDITS
from pellucid.service import ModelPool

PROMPT = "What is the capital of France?"
EDITED = "What is the capital of Italy?"


def _client(lm, settings) -> TestClient:
    pool = ModelPool(settings.with_overrides(default_model=lm.name))
    pool.add(lm)
    return TestClient(create_app(pool.settings, pool))


@pytest.fixture()
def client(tiny_lm, settings):
    return _client(tiny_lm, settings)


def test_an_edited_prompt_gives_both_answers_the_scores_and_the_diff(client, tiny_lm):
    res = client.post("/api/counterfactuals", json={"prompt": PROMPT, "edited": EDITED, "max_new_tokens": 5})
    assert res.status_code == 200, res.text
    data = res.json()
    original, [edited] = data["original"], data["variants"]
    # the target is the model's answer to the original prompt, scored after both prompts
    assert data["target_is_answer"] and data["target"] == original["answer"]
    assert original["answer"] == tiny_lm.generate(PROMPT, chat=True, max_new_tokens=5).text
    assert edited["answer"] == tiny_lm.generate(EDITED, chat=True, max_new_tokens=5).text
    before = tiny_lm.score(PROMPT, data["target"], chat=True).total
    after = tiny_lm.score(EDITED, data["target"], chat=True).total
    assert original["target_logprob"] == pytest.approx(before, abs=1e-3)
    assert edited["target_logprob"] == pytest.approx(after, abs=1e-3)
    assert edited["delta_logprob"] == pytest.approx(after - before, abs=1e-3)
    assert [d["op"] for d in edited["diff"]] == ["equal", "replace", "equal"]
    assert edited["diff"][1] == {"op": "replace", "old": ["France"], "new": ["Italy"]}
    assert edited["edit"]["generator"] == "manual" and edited["prompt"] == EDITED
    # the same numbers as the engine called directly
    direct = counterfactual(tiny_lm, PROMPT, edits=[Edit(EDITED, "manual")], chat=True, max_new_tokens=5)
    assert edited["delta_logprob"] == pytest.approx(direct.variants[0].delta_logprob, abs=1e-6)


def test_a_given_target_and_foil(client, tiny_lm):
    body = {"prompt": PROMPT, "edited": EDITED, "target": " Paris", "foil": " Rome", "raw": True, "max_new_tokens": 3}
    data = client.post("/api/counterfactuals", json=body).json()
    assert data["target"] == " Paris" and not data["target_is_answer"] and data["foil"] == " Rome"
    variant = data["variants"][0]
    paris = tiny_lm.score(EDITED, " Paris", chat=False).total - tiny_lm.score(PROMPT, " Paris", chat=False).total
    rome = tiny_lm.score(EDITED, " Rome", chat=False).total - tiny_lm.score(PROMPT, " Rome", chat=False).total
    assert variant["delta_logprob"] == pytest.approx(paris, abs=1e-3)
    assert variant["delta_contrast"] == pytest.approx(paris - rome, abs=1e-3)


def test_a_generator_lists_its_edits_with_their_answers(client):
    body = {"prompt": "He said the film was awful.", "generator": "demographic_swap", "max_new_tokens": 3}
    data = client.post("/api/counterfactuals", json=body).json()
    assert [v["prompt"] for v in data["variants"]] == ["She said the film was awful."]
    edit = data["variants"][0]["edit"]
    assert edit["generator"] == "demographic_swap" and edit["changes"][0]["old"] == "He"
    assert data["params"]["generator"] == "demographic_swap" and not data["truncated"]
    many = {"prompt": "The movie was really quite awful today.", "generator": "typos", "max_new_tokens": 2}
    many["generator_params"] = {"n": MAX_EDITS + 3, "rate": 0.5}
    data = client.post("/api/counterfactuals", json=many).json()
    assert len(data["variants"]) == MAX_EDITS and data["truncated"]
    assert len({v["prompt"] for v in data["variants"]}) > 1


def test_generators_are_described_without_file_parameters(client):
    generators = {g["name"]: g for g in client.get("/api/counterfactuals/generators").json()}
    assert {"typos", "demographic_swap", "word_replace", "injection"} <= set(generators)
    assert [p["name"] for p in generators["typos"]["params"]] == ["n", "rate", "kinds"]
    names = {p["name"] for g in generators.values() for p in g["params"]}
    assert "lexicon_file" not in names and "suite" not in names


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"prompt": PROMPT}, 422, "Nothing to compare"),
        ({"prompt": PROMPT, "edited": EDITED, "generator": "typos"}, 422, "not both"),
        ({"prompt": PROMPT, "edited": PROMPT}, 422, "the same as the original"),
        ({"prompt": PROMPT, "edited": "  "}, 422, "The edited prompt is empty"),
        ({"prompt": PROMPT, "generator": "nope"}, 422, "Unknown generator: 'nope'"),
        ({"prompt": PROMPT, "generator": "typos", "generator_params": {"speed": 2}}, 422, "has no parameter 'speed'"),
        ({"prompt": PROMPT, "generator": "typos", "generator_params": {"n": 0}}, 422, "below its minimum"),
        (
            {"prompt": PROMPT, "generator": "word_replace", "generator_params": {"lexicon_file": "/etc/passwd"}},
            422,
            "names a file on the server",
        ),
        (
            {"prompt": PROMPT, "generator": "injection", "generator_params": {"suite": "/tmp/attacks.json"}},
            422,
            "names a file on the server",
        ),
        ({"prompt": "What is it?", "generator": "demographic_swap"}, 422, "made no edit of this prompt"),
        ({"prompt": "", "edited": EDITED}, 422, "prompt='': String should have at least 1 character"),
        ({"prompt": PROMPT, "edited": EDITED, "max_new_tokens": 0}, 422, "max_new_tokens"),
        ({"prompt": PROMPT, "edited": EDITED, "temperature": 1}, 422, "temperature=1: Extra inputs"),
        ({"prompt": PROMPT, "edited": EDITED, "model": "../x"}, 404, "is not served here"),
    ],
)
def test_bad_requests_are_refused_clearly(client, body, status, message):
    res = client.post("/api/counterfactuals", json=body)
    assert res.status_code == status, res.text
    assert message in res.json()["error"]["message"]


@pytest.mark.integration
def test_smollm_italy_makes_paris_much_less_likely(smollm, settings):
    client = _client(smollm, settings)
    data = client.post("/api/counterfactuals", json={"prompt": PROMPT, "edited": EDITED, "max_new_tokens": 12}).json()
    edited = data["variants"][0]
    assert data["original"]["answer"] == "The capital of France is Paris."
    assert "Italy" in edited["answer"] and "Paris" not in edited["answer"]
    assert edited["delta_logprob"] < -3  # the original answer became far less likely
    assert edited["delta_logprob"] == pytest.approx(edited["target_logprob"] - data["original"]["target_logprob"])
