"""``pellucid inspect ...`` end to end on the tiny model: JSON equals the library, errors are one line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pellucid import inspect as pi
from pellucid.cli.inspect_cmd import app, parse_ints
from tests.inspect.conftest import CLEAN, CORRUPTED


@pytest.fixture()
def run(tmp_path, tiny_dir):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [*args, "--model", str(tiny_dir)], env={"PELLUCID_HOME": str(tmp_path / "home")})

    return invoke


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _assert_same_scores(actual, expected) -> None:
    """The CLI's scores equal the library's up to float32 rounding.

    The CLI loads its own copy of the model, so its products run on other memory: MKL's and
    oneDNN's results depend on alignment and blocking in the last bits, and patching's
    normalised scores divide by the clean-corrupted gap, which magnifies that. 1e-4 of the
    largest score (probabilities of a tiny model can all be small), as the suite's
    batched-against-unbatched checks allow; a wrong cell, layer or position differs by a sizeable
    fraction of it.
    """
    expected = np.asarray(expected, dtype=float)
    scale = float(np.nanmax(np.abs(expected)))
    assert scale > 0, "all-zero scores compare nothing"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4 * scale)


def test_json_matches_the_library(run, tiny_lm):
    data = _json(run("patch", CLEAN, CORRUPTED, "-t", " Paris", "-f", " the", "--layers", "0,2", "--json"))
    ex = pi.patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", layers=[0, 2])
    _assert_same_scores(data["scores"], ex.scores)
    assert data["axes"] == ["layer", "position"] and data["labels"]["layer"] == ["0", "2"]
    data = _json(run("logit-lens", CLEAN, "--target", " Paris", "--json"))
    _assert_same_scores(data["scores"], pi.logit_lens(tiny_lm, CLEAN, target=" Paris").scores)
    data = _json(run("trace", CLEAN, "-t", " Paris", "-s", "Eiffel Tower", "--samples", "2", "--json"))
    expected = pi.trace(tiny_lm, CLEAN, target=" Paris", subject="Eiffel Tower", samples=2)
    _assert_same_scores(data["scores"], expected.scores)


@pytest.mark.parametrize(
    "args",
    [
        ["activations", CLEAN],
        ["activations", CLEAN, "--top-neurons", "3"],
        ["activations", "--neuron", "1.3", "--texts", "{texts}"],
        ["attention", CLEAN, "--layers", "0", "--heads", "0-1"],
        ["attention", CLEAN, "--summary"],
        ["attention", CLEAN, "--rollout"],
        ["logit-lens", CLEAN],
        ["dla", CLEAN, "-t", " Paris", "-f", " the", "--by", "head"],
        ["patch", CLEAN, CORRUPTED, "-t", " Paris", "--site", "heads"],
        ["trace", CLEAN, "-t", " Paris", "-s", "Eiffel", "--samples", "2", "--site", "mlp.out", "--window", "2"],
        ["attribution-patch", CLEAN, CORRUPTED, "-t", " Paris", "-f", " the"],
        ["ablate", CLEAN, "-t", " Paris", "--what", "neurons", "--neuron", "1.3", "--neuron", "2.5"],
        ["probe", "{csv}", "--cv", "2", "--layers", "0-1"],
        ["steer", "Hello", "--layer", "1", "--positive", "good", "--negative", "bad", "--max-new-tokens", "3"],
    ],
)
def test_every_subcommand_prints_a_table_json_and_html(run, tmp_path, args):
    (tmp_path / "texts.txt").write_text("The movie was fun.\nHello there\n")
    (tmp_path / "s.csv").write_text(
        "text,label\n" + "\n".join(f"{'good' if i % 2 else 'bad'} film {i},{i % 2}" for i in range(8))
    )
    args = [a.format(texts=tmp_path / "texts.txt", csv=tmp_path / "s.csv") for a in args]
    table = run(*args)
    assert table.exit_code == 0, table.output
    data = _json(run(*args, "--json"))
    assert {"kind", "method", "axes", "labels", "scores", "meta"} <= set(data)
    page = tmp_path / "page.html"
    assert run(*args, "--html", str(page)).exit_code == 0
    assert page.read_text().startswith("<!doctype html>")


def test_probe_save_then_steer_with_it(run, tmp_path):
    (tmp_path / "s.csv").write_text(
        "text,label\n" + "\n".join(f"{'good' if i % 2 else 'bad'} film {i},{i % 2}" for i in range(8))
    )
    saved = run("probe", str(tmp_path / "s.csv"), "--cv", "2", "--save", str(tmp_path / "p.npz"), "--save-layer", "1")
    assert saved.exit_code == 0, saved.output
    assert pi.LinearProbe.load(tmp_path / "p.npz").info_["layer"] == 1
    data = _json(
        run(
            "steer",
            "Hello",
            "--layer",
            "1",
            "--probe",
            str(tmp_path / "p.npz"),
            "--coef",
            "0",
            "--coef",
            "2",
            "--max-new-tokens",
            "3",
            "--json",
        )
    )
    assert data["labels"]["coefficient"] == ["+0", "+2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["patch", CLEAN, "The Eiffel Tower is located in the heart of", "-t", " Paris"], "same length"),
        (["trace", CLEAN, "-t", " Paris", "-s", "Louvre"], "does not occur"),
        (["logit-lens", CLEAN, "--layers", "5"], "Layer 5 does not exist"),
        (["attention", CLEAN, "--heads", "9"], "Head 9 does not exist"),
        (["activations", CLEAN, "--site", "nope"], "Unknown site"),
        (["dla", CLEAN, "-t", " Paris", "--layers", "x"], "No such option"),
        (["attention", CLEAN, "--layers", "1-x"], "not a number or a range"),
        (["steer", "Hello", "--layer", "1"], "--positive and --negative"),
        (["activations"], "Give a PROMPT"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")


def test_parse_ints():
    assert parse_ints("0,3-5,-1") == [0, 3, 4, 5, -1]
    assert parse_ints(None) is None and parse_ints("all") is None


def test_a_multi_token_target_says_which_token_is_scored(run, tiny_lm):
    text = " Paris is"
    assert len(tiny_lm.encode_target(text)) > 1
    first = tiny_lm.tokenizer.decode(tiny_lm.encode_target(text)[:1])
    data = _json(run("logit-lens", CLEAN, "--target", text, "--json"))
    assert data["meta"]["target"]["n_tokens"] > 1 and repr(first) in data["meta"]["target"]["note"]
    shown = run("logit-lens", CLEAN, "--target", text)
    assert shown.exit_code == 0, shown.output
    assert "note (target)" in shown.stdout and "only its first" in shown.stdout
    single = _json(run("logit-lens", CLEAN, "--target", " Paris", "--json"))["meta"]["target"]
    assert ("note" in single) == (single["n_tokens"] > 1)
