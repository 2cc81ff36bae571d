"""``pellucid features ...`` end to end on the tiny model; bad input fails before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pellucid.cli.features_cmd import app
from tests.support.tiny import CORPUS


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in CORPUS * 4), encoding="utf-8")
    return path


def invoke(tmp_path: Path, *args: str):
    return CliRunner().invoke(app, list(args), env={"PELLUCID_HOME": str(tmp_path / "home")})


def test_train_then_info_and_evaluate(tmp_path: Path, tiny_dir: Path, corpus: Path) -> None:
    out = tmp_path / "sae"
    model = ["--model", str(tiny_dir)]
    result = invoke(
        tmp_path,
        "train",
        "--site",
        "blocks.1.resid_post",
        "--latents",
        "64",
        "--k",
        "4",
        "--data",
        str(corpus),
        "--tokens",
        "1000",
        "--batch-size",
        "64",
        "--lr",
        "0.01",
        "--out",
        str(out),
        "--eval",
        str(corpus),
        "--json",
        *model,
    )
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["tokens"] >= 1000 and 0 < trained["evaluation"]["l0"] <= 4
    info = json.loads(invoke(tmp_path, "info", str(out), "--json").stdout)
    assert (info["site"], info["hook_name"], info["d_sae"], info["k"]) == (
        "blocks.1.resid_post",
        "blocks.1.hook_resid_post",
        64,
        4,
    )
    assert info["evaluation"]["fve"] == trained["evaluation"]["fve"]
    result = invoke(tmp_path, "evaluate", str(out), "--data", str(corpus), "--max-tokens", "50", "--json", *model)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tokens"] >= 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "blocks.1.resid_middle"], "Unknown site 'blocks.1.resid_middle'"),
        (["--site", "blocks.1.resid_post", "--k", "80", "--latents", "64"], "k=80 is more than the 64 latents"),
        (["--site", "blocks.1.resid_post", "--latents", "0"], "latents"),
        (["--transcoder"], "--transcoder --layer L"),
        (["--site", "blocks.1.resid_post", "--architecture", "gated"], "gated"),
    ],
)
def test_bad_options_fail_before_the_model_loads(tmp_path: Path, corpus: Path, args: list[str], message: str) -> None:
    result = invoke(tmp_path, "train", "--data", str(corpus), *args, "--model", str(tmp_path / "no-such-model"))
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_an_empty_corpus_fails_before_the_model_loads(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = invoke(tmp_path, "train", "--site", "blocks.1.resid_post", "--data", str(empty), "--model", "nowhere")
    assert result.exit_code != 0 and "has no text" in result.output
    result = invoke(tmp_path, "info", str(tmp_path))
    assert result.exit_code != 0 and "no cfg.json" in " ".join(result.output.split())


def test_show_prints_a_feature(tmp_path: Path, tiny_dir: Path, corpus: Path) -> None:
    out = tmp_path / "sae"
    model = ["--model", str(tiny_dir)]
    result = invoke(
        tmp_path,
        "train",
        "--site",
        "blocks.1.resid_post",
        "--latents",
        "64",
        "--k",
        "4",
        "--data",
        str(corpus),
        "--tokens",
        "500",
        "--batch-size",
        "64",
        "--out",
        str(out),
        "--json",
        *model,
    )
    assert result.exit_code == 0, result.output
    view = json.loads(invoke(tmp_path, "show", str(out), "3", "--data", str(corpus), "--json", *model).stdout)
    assert view["feature"] == 3 and view["tokens_read"] > 0
    text = invoke(tmp_path, "show", str(out), "3", "--data", str(corpus), *model)
    assert text.exit_code == 0 and "feature 3" in text.output


def test_the_specs_agree_with_the_library() -> None:
    import inspect

    from pellucid.features import dictionary, evaluate, pipeline
    from pellucid.features.activations import DICTIONARY_SITES
    from pellucid.features.specs import ARCHITECTURES, EVALUATE, SITE_SUFFIXES, TRAIN
    from pellucid.features.train import TrainConfig

    assert ARCHITECTURES == dictionary.ARCHITECTURES and SITE_SUFFIXES == DICTIONARY_SITES
    defaults = TrainConfig()
    assert (TRAIN["tokens"].default, TRAIN["batch_size"].default, TRAIN["lr"].default, TRAIN["seed"].default) == (
        defaults.tokens,
        defaults.batch_size,
        defaults.lr,
        defaults.seed,
    )
    assert TRAIN["context"].default == inspect.signature(pipeline.train_dictionary).parameters["context"].default
    library = inspect.signature(evaluate.evaluate).parameters
    for param in EVALUATE.params:
        assert param.default == library[param.name].default, param.name
