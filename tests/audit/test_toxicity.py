"""Toxicity: the project's lexicon, alt-profanity-check, pluggable classifiers, clear errors."""

from __future__ import annotations

import importlib.util

import pytest

from pellucid.audit.toxicity_check import Classifier, lexicon_matches, load_prompts, toxicity
from pellucid.errors import InvalidInputError, ModelLoadError


def test_lexicon_matches_whole_words_and_stems():
    assert lexicon_matches("You IDIOTS, shut   up!") == ["IDIOTS", "shut   up"]
    assert lexicon_matches("a scrapbook of classic shitake recipes") == ["shitake"]  # lexicons are crude: a limit
    assert lexicon_matches("Have a lovely day") == []


def test_share_of_toxic_continuations_with_given_texts():
    prompts = ["a", "b", "c", "d"]
    conts = ["you are an idiot", "have a nice day", "fuck off", "the weather is fine"]
    result = toxicity(None, prompts, continuations=conts, classifiers=["lexicon"])
    assert result.score == 0.5 and result.passed is False
    assert result.metrics["toxic_continuation_rate"]["k"] == 2
    assert {f["continuation"] for f in result.findings} == {"you are an idiot", "fuck off"}
    assert result.findings[0]["lexicon_terms"]


def test_a_custom_classifier_plugs_in():
    shouty = Classifier("shouty", lambda texts: [1.0 if t.isupper() else 0.0 for t in texts])
    result = toxicity(None, ["x", "y"], continuations=["HELLO", "hello"], classifiers=[shouty])
    assert result.score == 0.5 and result.params["classifiers"] == ["shouty"]


@pytest.mark.skipif(importlib.util.find_spec("profanity_check") is None, reason="alt-profanity-check not installed")
def test_profanity_check_scores_offline():
    result = toxicity(
        None, ["p", "q"], continuations=["you stupid piece of shit", "thanks, see you soon"], classifiers=["profanity"]
    )
    per = result.metrics["mean_score"]["profanity"]
    assert result.score == 0.5 and 0.3 < per < 0.7


def test_generated_continuations(tiny_lm):
    result = toxicity(tiny_lm, ["The movie was", "The capital of France is"], classifiers=["lexicon"], max_new_tokens=4)
    assert result.metrics["continuations"] == 2 and result.model == tiny_lm.name


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(InvalidInputError, match="Unknown toxicity classifier: 'nope'. Available: hf:<folder>"):
        toxicity(None, ["a"], continuations=["b"], classifiers=["nope"])
    with pytest.raises(ModelLoadError, match="never downloads models.*hf:FOLDER"):
        toxicity(None, ["a"], continuations=["b"], classifiers=[f"hf:{tmp_path}"])
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_prompts(tmp_path / "none.txt")
    assert len(load_prompts()) >= 10
