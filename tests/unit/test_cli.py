"""The CLI end to end on a tiny model folder: JSON outputs and one-line errors with exit codes."""

import json

import pytest
from typer.testing import CliRunner

from pellucid.cli.main import app


@pytest.fixture()
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, ["--home", str(tmp_path / "home"), *args])

    return invoke


def test_generate_json(run, tiny_dir, tiny_lm):
    res = run("generate", "Hello there", "--model", str(tiny_dir), "--max-new-tokens", "4", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) >= {"model", "prompt", "text", "tokens", "logprobs"}
    expected = tiny_lm.generate("Hello there", max_new_tokens=4)
    assert data["tokens"] == expected.tokens
    assert data["logprobs"] == pytest.approx(expected.logprobs, abs=1e-5)


def test_score_json_matches_library(run, tiny_dir, tiny_lm):
    res = run("score", "What is the capital of", " France", "--model", str(tiny_dir), "--raw", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    expected = tiny_lm.score("What is the capital of", " France", chat=False)
    assert data["logprobs"] == pytest.approx(expected.logprobs, abs=1e-5)
    assert data["total"] == pytest.approx(expected.total, abs=1e-5)


def test_models_lists_bundled(run):
    res = run("models", "--json")
    assert res.exit_code == 0, res.output
    names = {m["name"] for m in json.loads(res.stdout)}
    assert {"smollm2-135m-instruct", "all-minilm-l6-v2"} <= names


def test_piped_tables_show_whole_values(run):
    res = run("models")  # CliRunner's output is not a terminal, like `pellucid models | grep ...`
    assert res.exit_code == 0, res.output
    rows = [line for line in res.stdout.splitlines() if "smollm2" in line]
    assert rows and "smollm2-135m-instruct" in rows[0] and "causal_lm" in rows[0]
    assert "…" not in res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "hi", "--model", "definitely-not-a-model"], "Bundled models"),
        (["score", "", " x", "--model", "{tiny}"], "prompt is empty"),
        (["score", "hi", "", "--model", "{tiny}"], "target is empty"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(run, tiny_dir, args, message):
    res = run(*[a.replace("{tiny}", str(tiny_dir)) for a in args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert "Traceback" not in res.output


def test_explain_json_and_html(run, tiny_dir, tmp_path):
    page = tmp_path / "ex.html"
    res = run(
        "explain",
        "What is the capital of France?",
        "--target",
        " Paris",
        "--model",
        str(tiny_dir),
        "--method",
        "integrated_gradients",
        "--param",
        "steps=8",
        "--json",
        "--html",
        str(page),
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["method"] == "integrated_gradients" and data["params"]["steps"] == 8
    assert "completeness_residual" in data["meta"]
    text = page.read_text()
    assert "<script>" in text and "src=" not in text  # standalone, nothing fetched


def test_methods_lists_parameters(run):
    res = run("methods", "--json")
    assert res.exit_code == 0
    by_name = {m["name"]: m for m in json.loads(res.stdout)}
    assert {p["name"] for p in by_name["integrated_gradients"]["params"]} == {"steps", "baseline", "rule"}


def test_explain_unknown_method_is_one_line(run, tiny_dir):
    res = run("explain", "hi", "--target", " x", "--model", str(tiny_dir), "--method", "magic")
    assert res.exit_code == 2 and "Available: attention" in res.stderr


def test_explain_notes_a_target_glued_to_the_prompt(run, tiny_dir):
    res = run("explain", "The capital of France is", "--target", "Paris", "--raw", "--model", str(tiny_dir), "--json")
    assert res.exit_code == 0, res.output
    assert "note:" in res.stderr and "no space" in res.stderr
    assert "no space" in json.loads(res.stdout)["meta"]["target_note"]


def test_error_messages_print_brackets_as_text(capsys) -> None:
    """An error naming an extra (``pellucid[ray]``) must not lose it to console markup."""
    from pellucid.cli.common import fail

    exit_ = fail("The ray backend needs Ray: pip install 'pellucid[ray]' (or use --backend local).")
    assert exit_.exit_code == 2
    assert "pip install 'pellucid[ray]'" in capsys.readouterr().err


def test_text_options_unescape_new_lines_and_tabs():
    from pellucid.cli.params import unescape

    # what a shell passes for --template "Review: {text}\nSentiment:" is a backslash and an n
    assert unescape("Review: {text}\\nSentiment:") == "Review: {text}\nSentiment:"
    assert unescape("a\\tb") == "a\tb" and unescape("keep \\\\n literal") == "keep \\n literal"
    assert unescape("no escapes {text}") == "no escapes {text}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "nope"], "Unknown attribution method"),
        (["-p", "nope=1"], "has no parameter 'nope'"),
        (["--granularity", "nope"], "Unknown granularity 'nope'"),
        (["--target-kind", "odds"], "target_kind='odds'"),
        (["--segments", "users"], "Unknown segment 'users'"),
    ],
)
def test_explain_refuses_bad_options_before_the_model_loads(run, args, message):
    res = run("explain", "hi", "--model", "/no/such/model", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "does not exist" not in res.output  # the model was never looked for
