"""Groundedness: a changed number is flagged with its span; supported answers pass; bad files are named."""

from __future__ import annotations

import json

import pytest

from pellucid.audit.groundedness_check import Triple, check_triple, facts, groundedness, load_triples
from pellucid.errors import InvalidInputError

CONTEXT = (
    "Flight BA2490 from London to Lisbon departs on 14 March at 14:35 from Terminal 5. "
    "Boarding closes 20 minutes before departure. One checked bag of 23 kg is included."
)


def test_a_number_changed_between_context_and_answer_is_flagged():
    answer = "Your flight BA2490 leaves at 14:35. Boarding closes 30 minutes before departure."
    r = check_triple(Triple(CONTEXT, "When?", answer))
    first, second = r["sentences"]
    assert first["supported"] and not second["supported"]
    assert second["missing"] == {"numbers": ["30"]}
    assert answer[second["start"] : second["end"]] == "Boarding closes 30 minutes before departure."


def test_a_wrong_flight_number_is_flagged_even_when_the_sentence_is_similar():
    r = check_triple(Triple(CONTEXT, "Which flight?", "Your flight is BA2941 to Lisbon."))
    [s] = r["sentences"]
    assert not s["supported"] and s["missing"]["identifiers"] == ["BA2941"]


def test_groundedness_result_and_facts(minilm):
    triples = [
        Triple(CONTEXT, "When?", "The flight departs at 14:35 from Terminal 5.", "ok"),
        Triple(CONTEXT, "Bag?", "One checked bag of 32 kg is included.", "bag"),
    ]
    result = groundedness(triples, encoder=minilm)
    assert result.metrics["unsupported_rate"]["k"] == 1 and result.score == 0.5
    assert [f["id"] for f in result.findings] == ["bag"]
    assert result.findings[0]["unsupported"][0]["missing"] == {"numbers": ["32"]}
    assert result.metrics["similarity"] == "MiniLM cosine"
    assert facts("Pay 2,400 EUR to Anna Berg via ZQX-4821.") == {
        "numbers": ["2,400"],
        "identifiers": ["ZQX-4821"],
        "entities": ["Anna Berg"],
    }


def test_answers_are_generated_when_absent_and_files_are_checked(tiny_lm, tmp_path):
    path = tmp_path / "rag.jsonl"
    path.write_text(json.dumps({"context": "Paris is the capital of France.", "question": "Capital?"}) + "\n")
    result = groundedness(path, lm=tiny_lm)
    assert result.metrics["triples"] == 1 and result.error is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(InvalidInputError, match="row 1 lacks context.*it has: question, answer"):
        load_triples(bad)
    with pytest.raises(InvalidInputError, match="needs a model"):
        groundedness([Triple("c", "q", "a")], samples=2)
