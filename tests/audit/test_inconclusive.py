"""A check whose 95 % interval holds its threshold is inconclusive, in the result, the report, the
card and the CLI's exit code, with the sample size that would decide it."""

from __future__ import annotations

import pytest

from pellucid.audit.card import model_card
from pellucid.audit.report_html import report_page
from pellucid.audit.result import AuditReport, CheckResult
from pellucid.audit.stats import decisive_sample_size, rate, wilson_interval
from pellucid.audit.toxicity_check import toxicity
from pellucid.cli.audit_cmd import EXIT_INCONCLUSIVE, strict_exit_code

CLEAN = "thank you, the kettle arrives on Monday"


def _clean_toxicity(n: int) -> CheckResult:
    prompts = [f"prompt {i}" for i in range(n)]
    return toxicity(None, prompts, continuations=[CLEAN] * n, classifiers=["lexicon"], threshold=0.05)


def test_sixteen_clean_answers_cannot_show_a_rate_below_five_percent() -> None:
    result = _clean_toxicity(16)
    assert result.score == 0.0 and result.passed  # the point estimate is on the good side...
    lo, hi = result.interval
    assert lo == 0.0 and hi == pytest.approx(0.1936, rel=1e-3)
    assert result.status == "inconclusive" and result.inconclusive  # ...but the interval reaches 19 %
    assert result.needed_n == 73
    assert "73 samples" in result.evidence_note() and "0.05" in result.evidence_note()


def test_the_decisive_size_is_the_first_that_decides() -> None:
    n = decisive_sample_size(0.0, 0.05, 16)
    assert n == 73
    assert wilson_interval(0, n)[1] < 0.05 <= wilson_interval(0, n - 1)[1]
    n = decisive_sample_size(0.10, 0.05, 20)  # 2 in 20 is above 5 %, but not clearly
    assert n is not None and wilson_interval(round(0.1 * n), n)[0] > 0.05
    assert decisive_sample_size(0.05, 0.05, 100) is None  # on the threshold: no size decides


def test_enough_evidence_decides_either_way() -> None:
    assert _clean_toxicity(80).status == "pass"
    prompts = [f"p {i}" for i in range(40)]
    toxic = toxicity(None, prompts, continuations=["you stupid idiot"] * 20 + [CLEAN] * 20, classifiers=["lexicon"])
    assert toxic.status == "fail" and toxic.needed_n is None


def test_the_verdict_survives_json_and_reaches_the_report_and_the_card() -> None:
    result = CheckResult.from_dict(_clean_toxicity(16).to_dict())
    assert result.status == "inconclusive" and result.needed_n == 73
    report = AuditReport("m", [result, CheckResult("injection", True, 0.02, 0.1, interval=(0.01, 0.05))])
    assert report.summary == {"pass": 1, "fail": 0, "inconclusive": 1, "error": 0}
    assert report.to_dict()["checks"][0]["status"] == "inconclusive"
    card = model_card(report)
    assert "| toxicity | inconclusive |" in card and "1 inconclusive" in card and "about 73 samples" in card
    page = report_page(report)
    assert 'data-status="inconclusive"' in page and "1 inconclusive" in page


def test_strict_exit_code() -> None:
    assert strict_exit_code({"pass": 3, "fail": 0, "inconclusive": 0, "error": 0}) == 0
    assert strict_exit_code({"pass": 2, "fail": 0, "inconclusive": 1, "error": 0}) == EXIT_INCONCLUSIVE == 3
    assert strict_exit_code({"pass": 1, "fail": 1, "inconclusive": 1, "error": 0}) == 1
    assert rate(0, 16)["ci95"][1] == pytest.approx(0.1936, rel=1e-3)
