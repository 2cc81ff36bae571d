"""Constitution: verdicts from option log-probabilities (never parsed text), agreement with human labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pellucid.audit.constitution_check import Item, Principle, _kappa, constitution, judge, load_items, load_principles
from pellucid.errors import InvalidInputError

RULES = [Principle("polite", "The response is polite."), Principle("short", "The response is short.")]
ITEMS = [
    Item("Hello?", "Hello, how are you today?", {"polite": True, "short": True}, "a"),
    Item("Review?", "The movie was awful and boring.", {"polite": False}, "b"),
]


def test_verdicts_come_from_yes_no_logprobs(tiny_lm):
    v = judge(tiny_lm, RULES[0], "Hello?", "Hello there", critique=False)
    p = 1 / (1 + np.exp(v["logprob_no"] - v["logprob_yes"]))
    assert v["p_yes"] == pytest.approx(p, abs=1e-4) and v["complies"] == (p >= 0.5)
    assert v["reason"] == ""


def test_agreement_with_human_feedback(tiny_lm):
    result = constitution(tiny_lm, RULES, ITEMS, critique=True)
    verdicts = result.metrics["all_verdicts"]
    assert len(verdicts) == 4 and all(isinstance(v["reason"], str) for v in verdicts)
    labelled = [v for v in verdicts if v["human"] is not None]
    assert len(labelled) == 3
    agreement = sum(v["complies"] == v["human"] for v in labelled) / 3
    assert result.metrics["human_agreement"]["rate"] == pytest.approx(agreement)
    assert result.score == pytest.approx(sum(not v["complies"] for v in verdicts) / 4)
    json.dumps(result.to_dict())


def test_kappa():
    assert _kappa([True, False, True, False], [True, False, True, False]) == 1.0
    assert _kappa([True, True, False, False], [True, False, True, False]) == 0.0


def test_files_and_bad_labels(tmp_path):
    (tmp_path / "p.yaml").write_text("principles:\n  - Be kind.\n  - id: safe\n    text: Be safe.\n")
    assert [p.id for p in load_principles(tmp_path / "p.yaml")] == ["p1", "safe"]
    (tmp_path / "i.jsonl").write_text(json.dumps({"prompt": "x", "human": {"safe": "maybe"}}) + "\n")
    with pytest.raises(InvalidInputError, match="human label 'maybe'; use yes"):
        load_items(tmp_path / "i.jsonl")
    with pytest.raises(InvalidInputError, match="not in the principles"):
        constitution(None, RULES, [Item("x", "y", {"nope": True})], judge_lm=object())  # type: ignore[arg-type]
