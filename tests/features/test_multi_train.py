"""Transcoders for many layers in one pass: each layer equals a lone run on the same batches; resume; the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pellucid.cli.features_cmd import app
from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.features.activations import ActivationStream
from pellucid.features.multi_train import SUMMARY_FILE, train_transcoders
from pellucid.features.pipeline import dictionary_config
from pellucid.features.train import TrainConfig, fit
from tests.support.tiny import CORPUS

CONFIG = TrainConfig(tokens=600, batch_size=64, lr=0.01, checkpoint_every=3, log_every=1)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in CORPUS * 4), encoding="utf-8")
    return path


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return saelens_format.load(folder).state_dict()


def test_each_layer_equals_a_lone_run_on_the_same_batches(tiny_lm, tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "tc"
    results = train_transcoders(tiny_lm, corpus, [0, 2], latents=32, k=4, out=out, config=CONFIG, buffer_tokens=256)
    assert sorted(results) == [0, 2] and (out / "layer_0" / "cfg.json").is_file()
    # the lone run reads the same stream (every layer's sites, same seed) and keeps layer 2's pair
    sites = ["blocks.0.mlp.in", "blocks.0.mlp.out", "blocks.2.mlp.in", "blocks.2.mlp.out"]
    stream = ActivationStream(tiny_lm, corpus, sites, batch_size=64, buffer_tokens=256, seed=CONFIG.seed)

    class Layer2:
        def next_batch(self):
            batch = stream.next_batch()
            return None if batch is None else batch[2:]

        def state_dict(self):
            return stream.state_dict()

        def load_state_dict(self, state):
            stream.load_state_dict(state)

    dconfig = dictionary_config(tiny_lm, "blocks.2.mlp.in", 32, 4, "topk", "blocks.2.mlp.out")
    alone = fit(Layer2(), dconfig, CONFIG)
    for name, value in alone.dictionary.state_dict().items():
        assert torch.equal(value, _weights(out / "layer_2")[name]), name


def test_resuming_ends_where_an_uninterrupted_run_ends(tiny_lm, tmp_path: Path, corpus: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    train_transcoders(tiny_lm, corpus, [1], latents=32, k=4, out=full, config=CONFIG, buffer_tokens=256)

    class Interrupted(Exception):
        pass

    def stop_after_step_4(fraction: float, _figures: dict[str, float]) -> None:
        if fraction >= 4 * 64 / CONFIG.tokens:  # the last checkpoint was written after step 3
            raise Interrupted

    with pytest.raises(Interrupted):
        train_transcoders(tiny_lm, corpus, [1], latents=32, k=4, out=part, config=CONFIG, buffer_tokens=256,
                          progress=stop_after_step_4)  # fmt: skip
    train_transcoders(tiny_lm, corpus, [1], latents=32, k=4, out=part, config=CONFIG, buffer_tokens=256, resume=True)
    for name, value in _weights(full / "layer_1").items():
        assert torch.allclose(value, _weights(part / "layer_1")[name], rtol=1e-5, atol=1e-6), name


def test_bad_layers_are_refused_naming_the_valid_ones(tiny_lm, tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"layers 0\.\.2"):
        train_transcoders(tiny_lm, corpus, [0, 7], latents=32, k=4, out=tmp_path / "x", config=CONFIG)


def test_the_cli_trains_all_layers_and_writes_the_replacement_summary(
    tmp_path: Path, tiny_dir: Path, corpus: Path
) -> None:
    out = tmp_path / "tc"
    args = ["train", "--transcoder", "--layers", "all", "--latents", "32", "--k", "4", "--data", str(corpus),
            "--tokens", "256", "--batch-size", "64", "--lr", "0.01", "--out", str(out), "--eval", str(corpus),
            "--json", "--model", str(tiny_dir)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"PELLUCID_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert sorted(summary["layers"]) == ["0", "1", "2"]
    for layer in range(3):
        assert (out / f"layer_{layer}" / "pellucid_eval.json").is_file()
        assert (out / f"layer_{layer}" / "pellucid_train.json").is_file()
    info = json.loads(CliRunner().invoke(app, ["info", str(out), "--json"]).stdout)
    assert info["kind"] == "transcoders per layer" and sorted(info["layers"]) == ["0", "1", "2"]
    replacement = summary["replacement"]
    assert 0.0 <= replacement["top1_agreement"] <= 1.0 and replacement["kl"] >= 0.0
    assert replacement["layers"] == [0, 1, 2] and replacement["tokens"] > 0


def test_the_cli_reports_tokens_and_figures_when_piped(tmp_path: Path, tiny_dir: Path, corpus: Path) -> None:
    """Training runs for hours under nohup: with stderr piped it still says how far it is."""
    args = ["train", "--transcoder", "--skip", "--layers", "all", "--latents", "32", "--k", "4", "--data", str(corpus),
            "--tokens", "256", "--batch-size", "64", "--out", str(tmp_path / "tc"), "--eval", str(corpus),
            "--eval-tokens", "64", "--model", str(tiny_dir)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"PELLUCID_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    lines = re.findall(r"^training transcoders: (\d+)/256 \(\d+%\) mean FVE (-?[\d.]+)  L0 ([\d.]+) [\d.]+ s$",
                       result.output, re.M)  # fmt: skip
    assert lines and lines[-1][0] == "256"  # the last line: every token trained
    assert [int(done) for done, _, _ in lines] == sorted(int(done) for done, _, _ in lines)
    assert all(float(l0) <= 4 for _, _, l0 in lines)  # k = 4 active latents per token at most
    # the evaluation says how far it is too: three layers, then the replacement model
    evaluated = re.findall(r"^evaluating transcoders: (\d+)/4 \(\d+%\) [\d.]+ s$", result.output, re.M)
    assert evaluated and evaluated[-1] == "4", result.output
    for layer in range(3):  # --skip: skip transcoders, which the graph's loader reads
        cfg = json.loads((tmp_path / "tc" / f"layer_{layer}" / "cfg.json").read_text())
        assert cfg["architecture"] == "topk_skip_transcoder"
    summary = json.loads((tmp_path / "tc" / SUMMARY_FILE).read_text())
    assert summary["skip"] == [0, 1, 2] and summary["architecture"] == ["topk"]
    from pellucid.features.graph.transcoders import describe_transcoders

    assert describe_transcoders(tmp_path / "tc")["skip"] == [0, 1, 2]


def test_the_training_summary_is_kept_when_the_evaluation_is_interrupted(
    tiny_lm, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pellucid.features import evaluate as evaluation
    from pellucid.service import features as service

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate", interrupted)
    out = tmp_path / "tc"
    with pytest.raises(KeyboardInterrupt):
        service.train_transcoders(tiny_lm, corpus, out=out, eval_data=corpus, transcoder=True, layers="all",
                                  latents=32, k=4, tokens=128, batch_size=64)  # fmt: skip
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert sorted(summary["layers"]) == ["0", "1", "2"] and summary["tokens"] == 128
    assert all(row["evaluation"] is None for row in summary["layers"].values())
    assert "the evaluation (--eval) did not finish" in summary["replacement"]["note"]
    assert summary["architecture"] == ["topk"] and summary["skip"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "all"], "--transcoder"),
        (["--transcoder", "--layer", "1", "--layers", "all"], "without --site or --layer"),
        (["--transcoder", "--layers", "a-b"], "not a number"),
        (["--skip", "--site", "blocks.1.resid_post"], "--skip adds a linear skip term to a transcoder"),
    ],
)
def test_bad_layer_options_fail_before_the_model_loads(
    tmp_path: Path, corpus: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(corpus), *args, "--model", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert message in result.output
