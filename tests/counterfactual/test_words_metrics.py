"""Diff and metric helpers: exact, hand-checkable numbers."""

from __future__ import annotations

import pytest

from pellucid.counterfactual.metrics import bootstrap_interval, exact_match, wilson_interval
from pellucid.counterfactual.words import Change, apply_changes, match_case, token_edit_distance, word_diff


def test_apply_changes_rebuilds_and_rejects_wrong_reports() -> None:
    text = "The movie was awful."
    assert apply_changes(text, [Change(14, 19, "awful", "great")]) == "The movie was great."
    assert apply_changes(text, [Change(19, 19, "", "!"), Change(0, 4, "The ", "")]) == "movie was awful!."
    with pytest.raises(ValueError, match="text has"):
        apply_changes(text, [Change(0, 3, "A", "B")])
    with pytest.raises(ValueError, match="overlapping"):
        apply_changes(text, [Change(0, 5, "The m", ""), Change(4, 6, "mo", "")])


def test_word_diff_and_edit_distance() -> None:
    diff = word_diff("the movie was awful .", "the film was awful")
    assert [(d.op, d.old, d.new) for d in diff if d.op != "equal"] == [
        ("replace", ["movie"], ["film"]),
        ("delete", ["."], []),
    ]
    assert token_edit_distance([1, 2, 3], [1, 3]) == 1
    assert token_edit_distance("kitten", "sitting") == 3
    assert token_edit_distance([], [4, 5]) == 2


def test_match_case_and_exact_match() -> None:
    assert match_case("Awful", "excellent") == "Excellent"
    assert match_case("AWFUL", "excellent") == "EXCELLENT"
    assert match_case("awful", "Excellent") == "Excellent"
    assert exact_match(" Positive.", "positive")
    assert not exact_match("positive", "negative")


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)  # the "rule of three"-like upper bound
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    values = [0.0, 1.0, 2.0, 3.0, 4.0]
    a, b = bootstrap_interval(values, seed=3), bootstrap_interval(values, seed=3)
    assert a == b and a[0] < 2.0 < a[1]
