"""Feature ablation, steering along a latent, and their commands, on a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pellucid.cli.main import app
from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.features.activations import site_width
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from pellucid.features.interventions import ablate_latents, steering_direction
from pellucid.service.feature_explain import parse_feature
from tests.features.test_attribution import PROMPT, TARGET, _gentle_dictionary

runner = CliRunner()


def test_ablating_a_latent_removes_its_contribution_wherever_it_fires(tiny_lm) -> None:
    dictionary = _gentle_dictionary(tiny_lm, seed=5)
    x = tiny_lm.run_with_cache(tiny_lm.encode(PROMPT, chat=False), [dictionary.config.site])[1]
    z = dictionary.encode(x[dictionary.config.site][0].float())
    firing = int(torch.nonzero(z.sum(0) > 0)[0])
    silent = int(torch.nonzero(z.sum(0) == 0)[0])
    out = ablate_latents(tiny_lm, PROMPT, TARGET, dictionary, [firing, silent], chat=False)
    assert out["silent"] == [silent]
    assert {f["latent"] for f in out["fired"]} == {firing}
    assert len(out["fired"]) == int((z[:, firing] > 0).sum())
    assert out["change"] == pytest.approx(out["after"] - out["before"], rel=1e-12)
    assert abs(out["change"]) > 1e-6 * abs(out["before"])  # a firing latent moves the target
    same = ablate_latents(tiny_lm, PROMPT, TARGET, dictionary, [firing], scale=1.0, chat=False)
    assert abs(same["change"]) <= 1e-6 * abs(same["before"])  # scale 1 adds exactly nothing


def test_latents_are_checked_against_the_dictionary(tiny_lm) -> None:
    dictionary = _gentle_dictionary(tiny_lm, seed=1)
    with pytest.raises(InvalidInputError, match=rf"latents 0\.\.{dictionary.d_sae - 1}"):
        ablate_latents(tiny_lm, PROMPT, TARGET, dictionary, [dictionary.d_sae], chat=False)
    with pytest.raises(InvalidInputError, match="scale=nan"):
        ablate_latents(tiny_lm, PROMPT, TARGET, dictionary, [0], scale=float("nan"), chat=False)


def test_a_latents_steering_direction_is_its_unit_decoder_row_at_its_layer(tiny_lm) -> None:
    dictionary = _gentle_dictionary(tiny_lm, seed=2)
    direction, layer, site = steering_direction(dictionary, 7)
    row = dictionary.W_dec.detach()[7]
    assert (layer, site) == (1, "resid_post")
    assert float(direction.norm()) == pytest.approx(1.0, rel=1e-6)
    assert float(torch.dot(direction, row / row.norm())) == pytest.approx(1.0, rel=1e-6)
    d = site_width(tiny_lm, "blocks.1.mlp.in")
    reads_mlp_in = SparseDictionary(DictionaryConfig("topk", d, 8, 2, "blocks.1.mlp.in", tiny_lm.name))
    with pytest.raises(InvalidInputError, match="mlp.in"):
        steering_direction(reads_mlp_in, 0)


def test_feature_specs_are_parsed_before_a_model_loads(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="DIR:ID"):
        parse_feature("sae")
    with pytest.raises(InvalidInputError, match="not a dictionary folder"):
        parse_feature(f"{tmp_path}:3")


@pytest.fixture
def saved(tiny_lm, tmp_path: Path) -> Path:
    saelens_format.save(_gentle_dictionary(tiny_lm, seed=5), tmp_path / "sae")
    return tmp_path / "sae"


def test_features_explain_and_ablate_commands(tiny_dir: Path, saved: Path) -> None:
    common = ["--dictionary", str(saved), "--model", str(tiny_dir), "--raw", "--json"]
    result = runner.invoke(app, ["features", "explain", PROMPT, "--target", TARGET, "--top", "3", *common])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["top"]) == 3 and out["meta"]["completeness_residual"] < 1e-6
    assert out["meta"]["self_check"]["ablated"] >= 1
    latent = out["top"][0]["latent"]
    result = runner.invoke(app, ["features", "ablate", PROMPT, "--target", TARGET, "--latent", str(latent), *common])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["latents"] == [latent]


def test_inspect_steer_along_a_feature(tiny_dir: Path, saved: Path) -> None:
    args = ["inspect", "steer", "hello", "--feature", f"{saved}:4", "--scale", "6", "--max-new-tokens", "3"]
    result = runner.invoke(app, [*args, "--model", str(tiny_dir), "--raw", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["params"]["layer"] == 1 and out["params"]["coefficients"] == [0.0, 6.0]
    wrong = runner.invoke(app, [*args, "--layer", "0", "--model", str(tiny_dir), "--raw"])
    assert wrong.exit_code != 0 and "--layer 1" in wrong.output
    missing = runner.invoke(app, ["inspect", "steer", "hello", "--probe", "x.npy", "--model", str(tiny_dir)])
    assert missing.exit_code != 0 and "--layer" in missing.output


def test_explain_with_features_gives_the_same_attribution(tiny_dir: Path, saved: Path) -> None:
    args = [PROMPT, "--target", TARGET, "--model", str(tiny_dir), "--raw", "--json"]
    via_explain = runner.invoke(app, ["explain", *args, "--features", str(saved)])
    via_features = runner.invoke(app, ["features", "explain", *args, "--dictionary", str(saved)])
    assert via_explain.exit_code == 0 == via_features.exit_code, via_explain.output
    a, b = json.loads(via_explain.stdout), json.loads(via_features.stdout)
    assert [r["latent"] for r in a["top"]] == [r["latent"] for r in b["top"]]
    missing = runner.invoke(app, ["explain", PROMPT, "--features", str(saved), "--model", str(tiny_dir)])
    assert missing.exit_code != 0 and "--target" in missing.output


def test_the_server_enriches_features_when_configured(tiny_dir: Path, saved: Path, tmp_path: Path, monkeypatch) -> None:
    from pellucid.monitor import Store
    from pellucid.serve.app import _background_workers
    from pellucid.service import ModelPool
    from pellucid.service.feature_enrichment import FeatureEnricher
    from pellucid.settings import Settings

    monkeypatch.setenv("PELLUCID_ENRICH_FEATURES", str(saved))
    monkeypatch.setenv("PELLUCID_MODEL", str(tiny_dir))
    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path / "home"))
    settings = Settings.from_env()
    assert settings.enrich_features == saved
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        workers = _background_workers(settings, ModelPool(settings), store)
        (enricher,) = [w for w in workers if isinstance(w, FeatureEnricher)]
        assert enricher.name == "sae" and enricher.dictionary.config.site == "blocks.1.resid_post"
