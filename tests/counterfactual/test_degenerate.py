"""A classification run that cannot support a robustness verdict says so."""

from __future__ import annotations

from pellucid.counterfactual.degenerate import classifier_warnings
from pellucid.counterfactual.report_html import robustness_page
from pellucid.counterfactual.robustness import RobustnessConfig, summarise_rows

OPTIONS = [" negative", " positive"]


def test_one_answer_for_nearly_every_example_is_flagged_with_its_likely_cause():
    answers = [" negative"] * 39 + [" positive"]
    [warning] = classifier_warnings(answers, [None] * 40, OPTIONS)
    assert "' negative' for 39 of 40 examples (98%)" in warning and "leading space" in warning


def test_accuracy_within_the_chance_interval_is_flagged():
    answers = [" negative", " positive"] * 20  # balanced answers: not degenerate
    correct = [True, False] * 20  # 50 % on two options: chance
    [warning] = classifier_warnings(answers, correct, OPTIONS)
    assert "Accuracy 0.50" in warning and "consistent with chance (0.50 for 2 options)" in warning


def test_a_skilled_balanced_classifier_and_a_small_sample_get_no_warning():
    answers = [" negative", " positive"] * 20
    assert classifier_warnings(answers, [True] * 36 + [False] * 4, OPTIONS) == []
    assert classifier_warnings([" negative"] * 9, [False] * 9, OPTIONS) == []  # too few to tell


def test_the_report_and_its_page_carry_the_warnings():
    config = RobustnessConfig(task="classify", options=OPTIONS, generators=("typos",))
    rows = [{"kind": "example", "row": i, "original": f"text {i}", "answer": " negative", "correct": i % 2 == 0}
            for i in range(20)]  # fmt: skip
    report = summarise_rows(rows, config, model="m")
    warnings = report.meta["warnings"]
    assert len(warnings) == 2 and "20 of 20 examples" in warnings[0] and "chance" in warnings[1]
    assert report.to_dict()["meta"]["warnings"] == warnings
    assert robustness_page(report).count("<b>Warning:</b>") == 2
