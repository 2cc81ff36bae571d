"""``counterfactual()``: log-probability changes equal the directly computed ones; bad replacements raise."""

from __future__ import annotations

import json

import pytest

from pellucid.counterfactual.compare import counterfactual
from pellucid.errors import InvalidInputError

PROMPT = "The movie was awful and boring."


def test_deltas_equal_direct_scores(tiny_lm) -> None:
    res = counterfactual(
        tiny_lm, PROMPT, replace=["awful=>excellent", "boring=>fun"], target=" yes", foil=" no", max_new_tokens=4
    )
    (v,) = res.variants
    assert v.prompt == "The movie was excellent and fun."
    base_t, base_f = tiny_lm.score(PROMPT, " yes").total, tiny_lm.score(PROMPT, " no").total
    new_t, new_f = tiny_lm.score(v.prompt, " yes").total, tiny_lm.score(v.prompt, " no").total
    assert res.original.target_logprob == pytest.approx(base_t, abs=1e-4)
    assert v.delta_logprob == pytest.approx(new_t - base_t, abs=1e-4)
    assert v.delta_contrast == pytest.approx((new_t - new_f) - (base_t - base_f), abs=1e-4)
    assert [(d.op, d.old, d.new) for d in v.diff if d.op != "equal"] == [
        ("replace", ["awful"], ["excellent"]),
        ("replace", ["boring"], ["fun"]),
    ]
    json.dumps(res.to_dict(), allow_nan=False)


def test_default_target_is_the_original_answer_and_text_metrics(tiny_lm, minilm) -> None:
    res = counterfactual(tiny_lm, PROMPT, generator="identity", encoder=minilm, max_new_tokens=5)
    (v,) = res.variants
    assert res.target_is_answer and res.target == res.original.answer
    assert v.delta_logprob == pytest.approx(0.0, abs=1e-4)
    assert v.exact_match and v.token_edit_distance == 0
    assert v.similarity == pytest.approx(1.0, abs=1e-5)
    res = counterfactual(
        tiny_lm, PROMPT, generator="typos", generator_params={"n": 2}, encoder=minilm, max_new_tokens=5
    )
    assert len(res.variants) == 2
    for v in res.variants:
        direct = tiny_lm.score(v.prompt, res.target).total - tiny_lm.score(PROMPT, res.target).total
        assert v.delta_logprob == pytest.approx(direct, abs=1e-4)
        assert v.token_edit_distance >= 0 and -1.0 <= v.similarity <= 1.0


def test_replacement_that_matches_nothing_is_an_error(tiny_lm) -> None:
    with pytest.raises(InvalidInputError, match="'awfull' occurs nowhere in the prompt.*'awful'"):
        counterfactual(tiny_lm, PROMPT, replace=["awfull=>excellent"])
    with pytest.raises(InvalidInputError, match="'terrible' occurs nowhere"):
        counterfactual(tiny_lm, PROMPT, replace="awful=>excellent; terrible=>fine")
    res = counterfactual(
        tiny_lm, PROMPT, replace="awful=>excellent; terrible=>fine", strict=False, target=" yes", max_new_tokens=2
    )
    assert res.unmatched == ["terrible"] and res.to_dict()["unmatched"] == ["terrible"]
    with pytest.raises(InvalidInputError, match="no '=>'"):
        counterfactual(tiny_lm, PROMPT, replace=["awful"])
    with pytest.raises(InvalidInputError, match="empty"):
        counterfactual(tiny_lm, "  ", replace=["a=>b"])
