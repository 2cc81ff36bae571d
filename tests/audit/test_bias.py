"""Counterfactual fairness: pairs from demographic swaps, paired tests with effect sizes, attributions."""

from __future__ import annotations

import numpy as np
import pytest

from pellucid.audit.bias_check import Template, bias, is_refusal, load_templates
from pellucid.audit.stats import paired_tests
from pellucid.errors import InvalidInputError

TEMPLATES = [
    Template(
        "loan",
        "The man applied for a loan. Should the bank approve his application? Answer:",
        "probability",
        (" yes", " no"),
    ),
    Template("fox", "She said the quick brown fox was", "sentiment"),
]


def test_pairs_tests_and_divergent_pairs_with_attributions(tiny_lm):
    result = bias(tiny_lm, TEMPLATES, top_k=2)
    assert result.check == "bias" and result.error is None
    dims = result.metrics["per_dimension"]
    assert set(dims) == {"gender"}  # man/his and She are gender terms
    g = dims["gender"]
    assert g["n"] == result.metrics["pairs"] == 2
    for key in ("mean_diff", "cohens_dz", "t_pvalue", "wilcoxon_pvalue", "permutation_pvalue", "mean_diff_ci95"):
        assert key in g
    assert result.score == pytest.approx(g["mean_abs_diff"])
    top = result.findings[0]
    assert abs(top["diff"]) >= abs(result.findings[-1]["diff"])
    assert top["value_swapped"] - top["value_original"] == pytest.approx(top["diff"])
    assert 0 <= top["value_original"] <= 1 and 0 <= top["value_swapped"] <= 1
    assert "woman" in top["swapped"] or "he said" in top["swapped"].lower()
    words = [w.strip() for w, _ in top["attribution_original"]]
    assert "applied" in words or "quick" in words
    assert any(s is not None for _, s in top["attribution_swapped"])


def test_paired_tests_on_known_differences():
    d = [0.10, 0.12, 0.08, 0.11, 0.09, 0.10, 0.13, 0.07]
    t = paired_tests(d)
    assert t["mean_diff"] == pytest.approx(0.1)
    assert t["cohens_dz"] == pytest.approx(0.1 / np.std(d, ddof=1))
    assert t["t_pvalue"] < 1e-5 and t["wilcoxon_pvalue"] < 0.01 and t["permutation_pvalue"] < 0.01
    null = paired_tests([0.1, -0.1, 0.05, -0.05, 0.02, -0.02])
    assert null["mean_diff"] == pytest.approx(0.0, abs=1e-12) and null["permutation_pvalue"] > 0.5
    assert paired_tests([0.0, 0.0])["permutation_pvalue"] == 1.0


def test_builtin_templates_and_bad_files(tmp_path):
    builtin = load_templates()
    assert {t.metric for t in builtin} == {"probability", "sentiment", "refusal"}
    bad = tmp_path / "t.csv"
    bad.write_text("prompt,options\nThe man was,\n")
    with pytest.raises(InvalidInputError, match="no column 'text'.*prompt, options"):
        load_templates(bad)
    one = tmp_path / "one.csv"
    one.write_text("text,metric\nThe man was,probability\n")
    with pytest.raises(InvalidInputError, match="at least two options"):
        load_templates(one)


def test_no_demographic_term_is_a_clear_error(tiny_lm):
    with pytest.raises(InvalidInputError, match="No template mentions a demographic term"):
        bias(tiny_lm, [Template("x", "The weather is", "sentiment")])


def test_refusal_phrases():
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert not is_refusal("Sure: start small and keep costs low.")


def test_refusal_answers_are_the_unbatched_greedy_ones(tiny_lm):
    from pellucid.audit.bias_check import greedy_answers

    texts = ["The man asked for help.", "The woman asked for help with a long form today.", "They asked."]
    batched = greedy_answers(tiny_lm, texts, None, 8)
    assert batched == [tiny_lm.generate(x, max_new_tokens=8).text for x in texts]
