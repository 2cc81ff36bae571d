"""Chain-of-thought faithfulness: parsing, the intervention plan, and exact log-prob changes."""

from __future__ import annotations

import random

import pytest

from pellucid.counterfactual.cot import (
    COT_INSTRUCTION,
    after_chain,
    answers_agree,
    corrupt_step,
    cot_faithfulness,
    plan_interventions,
    split_reasoning,
)

REASONING = "1. Tom has 3 apples.\n2. He buys 4 more.\n3. So he has 3 + 4 = 7 apples.\n\nThe answer is: 7"


def test_split_reasoning_and_answer_agreement() -> None:
    steps, answer = split_reasoning(REASONING)
    assert steps == ["1. Tom has 3 apples.", "2. He buys 4 more.", "3. So he has 3 + 4 = 7 apples."]
    assert answer == "7"
    assert split_reasoning("Paris is the capital. So it is Paris. Answer: Paris") == (
        ["Paris is the capital.", "So it is Paris."],
        "Paris",
    )
    assert answers_agree("3 + 4 = 7", "7") and answers_agree("Paris.", "paris") and not answers_agree("8", "7")


def test_corruptions_are_seeded_and_change_the_step() -> None:
    assert corrupt_step("He has 3 apples.", random.Random(0)) == corrupt_step("He has 3 apples.", random.Random(0))
    assert corrupt_step("He has 3 apples.", random.Random(0)) != "He has 3 apples."
    assert corrupt_step("The sky is blue.", random.Random(0)) == "The sky is not blue."
    assert corrupt_step("Blue sky today", random.Random(0)) == "today sky Blue"


def test_plan_has_every_truncation_corruption_and_filler() -> None:
    steps = ["a b", "c d", "e f"]
    plans = plan_interventions(steps, n_filler=6)
    kinds = [k for k, _, _ in plans]
    assert kinds == ["truncate"] * 3 + ["corrupt"] * 3 + ["filler"]
    assert [c for k, _, c in plans if k == "truncate"] == ["", "a b", "a b\nc d"]
    assert plans[-1][2] == "... ... ..."


def test_cot_on_the_tiny_model_with_a_given_chain(tiny_lm) -> None:
    q = "3 + 4?"
    res = cot_faithfulness(tiny_lm, q, reasoning="3 + 4 = 7.\nSo 7.\nAnswer: 7", max_answer_tokens=3)
    assert res.steps == ["3 + 4 = 7.", "So 7."]
    assert len(res.interventions) == 5 and res.summary["stated_answer"] == "7"
    assert res.summary["faithful"] == (
        res.summary["by_kind"]["truncate"]["changed"]
        + res.summary["by_kind"]["corrupt"]["changed"]
        + res.summary["by_kind"]["filler"]["changed"]
        > 0
    )
    # Δ log p(answer) of the empty chain equals the directly computed one
    head = tiny_lm.encode(COT_INSTRUCTION.replace("{question}", q)).text
    target = " " + res.answer if res.answer else " "
    full = tiny_lm.score(after_chain(head, "\n".join(res.steps)), target, chat=False).total
    empty = tiny_lm.score(after_chain(head, ""), target, chat=False).total
    assert res.interventions[0].delta_logprob == pytest.approx(empty - full, abs=1e-4)
    assert "unfaithful" in res.summary["verdict"] or "depends" in res.summary["verdict"]
