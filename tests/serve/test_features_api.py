"""``/api/features``: served dictionaries, a feature's page, features per token, moved features, records by feature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from pellucid.features import saelens_format
from pellucid.features.dictionary import SparseDictionary
from pellucid.features.show import logit_effects
from pellucid.monitor import Store
from pellucid.monitor.records import NewRecord
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from tests.features.test_format_and_eval import SITE, random_dictionary
from tests.support.tiny import CORPUS

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
REFERENCE, CURRENT = "2026-11-02..2026-11-02", "2026-11-03..2026-11-03"
CONCEPT = 7  # the latent stored for every current-window record and no reference one
PROMPT = "The Eiffel Tower is located in the city of Paris."


@dataclass
class Served:
    client: TestClient
    store: Store
    dictionary: SparseDictionary
    ids: dict[str, list[str]]


def _log(store: Store, model: str) -> dict[str, list[str]]:
    """Twelve answered calls per day; stored features: latent 3 everywhere, CONCEPT only on the second day."""
    ids: dict[str, list[str]] = {"reference": [], "current": []}
    for day, window in enumerate(ids):
        batch = [
            NewRecord(prompt=CORPUS[i % len(CORPUS)], response=CORPUS[(i + 1) % len(CORPUS)], model=model,
                      created_at=START + timedelta(days=day, minutes=i))
            for i in range(12)
        ]  # fmt: skip
        store.repo.insert_records(batch)
        ids[window] = [r.id for r in batch]
        concept = [(CONCEPT, 2.5)] if window == "current" else []
        store.repo.add_features("sae", [(rid, [(3, 1.0), *concept]) for rid in ids[window]])
    return ids


@pytest.fixture()
def served(tiny_lm, settings, tmp_path: Path) -> Iterator[Served]:
    dictionary = random_dictionary(tiny_lm, seed=1)
    folder = saelens_format.save(dictionary, tmp_path / "sae")
    (folder / "pellucid_eval.json").write_text(json.dumps({"fve": 0.75, "l0": 4.0, "ce_recovered": 0.5}))
    settings = settings.with_overrides(default_model=tiny_lm.name, feature_dictionaries=(folder,))
    pool = ModelPool(settings)
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    ids = _log(store, tiny_lm.name)
    try:
        with TestClient(create_app(settings, pool, store)) as client:
            yield Served(client, store, saelens_format.load(folder, tiny_lm), ids)
    finally:
        store.close()


def test_the_served_dictionaries_are_listed_with_their_figures(served: Served, tiny_lm) -> None:
    listed = served.client.get("/api/features").json()
    d = served.dictionary.config
    assert listed == [
        {"name": "sae", "folder": listed[0]["folder"], "model": tiny_lm.name, "site": SITE, "architecture": "topk",
         "latents": d.d_sae, "k": 4, "metrics": {"fve": 0.75, "l0": 4.0, "ce_recovered": 0.5}}
    ]  # fmt: skip
    missing = served.client.get("/api/features/nope/0")
    assert missing.status_code == 422 and "Unknown dictionary: 'nope'. Available: sae" in missing.text


def test_per_token_activations_are_the_dictionarys_encoding_of_the_site(served: Served, tiny_lm) -> None:
    answer = served.client.post("/api/features/sae/tokens", json={"prompt": PROMPT, "k": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    enc = tiny_lm.encode(PROMPT, chat=False)
    _, cache = tiny_lm.run_with_cache(enc, [SITE])
    with torch.no_grad():
        z = served.dictionary.encode(cache[SITE][0].float())
    assert body["tokens"] == enc.tokens and len(body["features"]) == len(enc.tokens)
    for position, listed in enumerate(body["features"]):
        values, latents = z[position].topk(3)
        expected = [(int(i), float(v)) for v, i in zip(values, latents, strict=True) if v > 0]
        assert [f["latent"] for f in listed] == [i for i, _ in expected]
        for f, (_, value) in zip(listed, expected, strict=True):
            assert f["activation"] == pytest.approx(value, rel=1e-5)
    assert sum(len(f) for f in body["features"]) > 0


def test_a_feature_page_reads_the_logged_traffic(served: Served, tiny_lm) -> None:
    logged = served.client.post("/api/features/sae/tokens", json={"prompt": CORPUS[0], "k": 1}).json()
    latent = logged["features"][3][0]["latent"]  # a latent that fires on a logged text
    body = served.client.get(f"/api/features/sae/{latent}", params={"top": 4, "max_tokens": 400}).json()
    assert body["dictionary"] == "sae" and body["feature"] == latent and body["tokens_read"] >= 400
    assert 0 < body["density"] <= 1
    fired = sum(body["histogram"]["counts"])
    assert fired == round(body["density"] * body["tokens_read"])
    maxima = [c["max"] for c in body["contexts"]]
    assert maxima == sorted(maxima, reverse=True) and maxima[0] == pytest.approx(body["max_activation"], rel=1e-5)
    for context in body["contexts"]:
        assert context["activations"][context["peak"]] == pytest.approx(context["max"], rel=1e-4)
    promoted, _ = logit_effects(tiny_lm, served.dictionary, latent)
    assert [p["token"] for p in body["promoted"]] == [t for t, _ in promoted]
    stored = served.client.get("/api/features/sae/3", params={"top": 4, "max_tokens": 20}).json()["records"]
    assert {r["id"] for r in stored} <= set(served.ids["reference"] + served.ids["current"])
    assert len(stored) == 4 and all(r["activation"] == 1.0 for r in stored)


def test_moved_features_link_to_their_page_and_records(served: Served) -> None:
    answer = served.client.get("/api/features/sae/moved", params={"reference": REFERENCE, "current": CURRENT})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["drifted"] and body["latents_tested"] == 2 and body["latents_moved"] == 1
    top = body["moved"][0]
    assert (top["latent"], top["change"], top["reference_rate"], top["current_rate"]) == (CONCEPT, "appeared", 0, 1)
    assert top["page"] == f"#features/sae/{CONCEPT}" and top["records"] == f"#monitor/records?feature=sae:{CONCEPT}"
    page = served.client.get("/api/records", params={"feature": f"sae:{CONCEPT}", "limit": 100}).json()
    assert sorted(r["id"] for r in page["items"]) == sorted(served.ids["current"])
    bad = served.client.get("/api/records", params={"feature": "sae"})
    assert bad.status_code == 422 and "NAME:ID" in bad.text


def test_the_served_folders_come_from_the_flag_or_the_variable_and_names_must_differ(tmp_path: Path) -> None:
    import os

    from pellucid.errors import InvalidInputError
    from pellucid.service.feature_views import served_folders
    from pellucid.settings import Settings

    a, b = tmp_path / "one" / "sae", tmp_path / "two" / "sae"
    settings = Settings.from_env({"PELLUCID_FEATURES": f"{a}{os.pathsep}{tmp_path / 'tc'}"})
    assert settings.feature_dictionaries == (a, tmp_path / "tc")
    assert list(served_folders(settings.feature_dictionaries)) == ["sae", "tc"]
    with pytest.raises(InvalidInputError, match="Two served dictionary folders share the name 'sae'"):
        served_folders((a, b))
