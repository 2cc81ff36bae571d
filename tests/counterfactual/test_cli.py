"""The commands, through a local app that registers them as cli/main.py will."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pellucid.cli import cot_cmd, counterfactual_cmd, injection_cmd, robustness_cmd
from pellucid.settings import Settings


def _app(home: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Settings(home=home)

    app.command("counterfactual")(counterfactual_cmd.counterfactual)
    app.command("generators")(counterfactual_cmd.generators)
    app.command("robustness")(robustness_cmd.robustness)
    app.command("injection")(injection_cmd.injection)
    app.command("cot")(cot_cmd.cot)
    return app


@pytest.fixture()
def run(tmp_path: Path):
    app = _app(tmp_path / "home")

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


def test_generators_lists_every_generator(run) -> None:
    res = run("generators", "--json")
    assert res.exit_code == 0, res.output
    names = [g["name"] for g in json.loads(res.stdout)]
    assert "typos" in names and "ablation_flip" in names and "identity" in names
    table = run("generators")
    assert "demographic_swap" in table.stdout


def test_counterfactual_json(run, tiny_dir: Path) -> None:
    res = run(
        "counterfactual",
        "The movie was awful.",
        "--replace",
        "awful=>excellent",
        "--target",
        " yes",
        "--foil",
        " no",
        "-m",
        str(tiny_dir),
        "--no-similarity",
        "--max-new-tokens",
        "3",
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    (v,) = data["variants"]
    assert v["prompt"] == "The movie was excellent." and data["target"] == " yes"
    assert v["edit"]["changes"] == [{"start": 14, "end": 19, "old": "awful", "new": "excellent", "kind": "replace"}]
    text = run(
        "counterfactual",
        "The movie was awful.",
        "-r",
        "awful=>excellent",
        "-m",
        str(tiny_dir),
        "--no-similarity",
        "--max-new-tokens",
        "3",
    )
    assert text.exit_code == 0 and "Δ log p(target)" in text.stdout


def test_counterfactual_bad_replacement_exits_with_a_message(run, tiny_dir: Path) -> None:
    res = run(
        "counterfactual", "The movie was awful.", "--replace", "terrible=>great", "-m", str(tiny_dir), "--no-similarity"
    )
    assert res.exit_code == 2
    assert "'terrible' occurs nowhere in the prompt" in res.output


def test_robustness_json_and_html(run, tiny_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("label\tcontent\n1\tgreat fun\n0\t\n0\tawful boring movie\n", encoding="utf-8")
    html = tmp_path / "r.html"
    res = run(
        "robustness",
        "--data",
        str(data),
        "--text-column",
        "content",
        "--generators",
        "identity,typos",
        "--options",
        " negative, positive",
        "--template",
        "Review: {text}\\nSentiment:",
        "--raw",
        "--param",
        "typos.n=2",
        "-m",
        str(tiny_dir),
        "--html",
        str(html),
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["skipped_empty"] == 1 and report["n_examples"] == 2
    assert report["generators"]["identity"]["flip_rate"] == 0.0
    assert report["config"]["template"] == "Review: {text}\nSentiment:"
    assert report["config"]["options"] == [" negative", " positive"]
    assert html.read_text().startswith("<!doctype html>")


def test_robustness_bad_inputs(run, tiny_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.tsv"
    data.write_text("label\tcontent\n1\tgreat\n", encoding="utf-8")
    res = run("robustness", "--data", str(data), "--options", "a,b", "-m", str(tiny_dir))
    assert res.exit_code == 2 and "no column 'text'" in res.output and "content" in res.output
    res = run(
        "robustness", "--data", str(data), "--text-column", "content", "--generators", "typoz", "--options", "a,b"
    )
    assert res.exit_code == 2 and "Unknown generator: 'typoz'" in res.output
    res = run("robustness", "--data", str(data), "--text-column", "content", "--param", "rate=0.1", "--options", "a,b")
    assert res.exit_code == 2 and "typos.rate" in res.output


def test_injection_and_cot_commands(run, tiny_dir: Path) -> None:
    res = run(
        "injection",
        "--system",
        "Be nice.",
        "--families",
        "role_play",
        "--task",
        "{attack}",
        "--max-new-tokens",
        "3",
        "-m",
        str(tiny_dir),
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["families"]["role_play"]["attacks"] == 3 and len(report["transcripts"]) == 3
    shown = run("injection", "--system", "Be nice.", "--families", "role_play", "--task", "{attack}",
                "--max-new-tokens", "3", "-m", str(tiny_dir), "--transcripts")  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "attack: " in shown.stdout and "response: " in shown.stdout and "[dim]" not in shown.stdout
    res = run("cot", "", "-m", str(tiny_dir))
    assert res.exit_code == 2 and "question is empty" in res.output


def test_cot_steps_are_numbered_once() -> None:
    from pellucid.cli.cot_cmd import numbered

    assert numbered(["1. Tom has 3 apples.", "2) He buys 2 more.", "Step 3: so 5."]) == [
        "1. Tom has 3 apples.",
        "2) He buys 2 more.",
        "Step 3: so 5.",
    ]
    assert numbered(["Tom has 3 apples.", "He buys 2 more."]) == ["1. Tom has 3 apples.", "2. He buys 2 more."]
    assert numbered(["3 apples plus 2 is 5."]) == ["1. 3 apples plus 2 is 5."]  # a number, not a numbering
