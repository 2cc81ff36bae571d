"""Every generator: deterministic with a seed, and changes exactly what it says it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pellucid.counterfactual import GENERATORS, GenContext, generate_edits
from pellucid.counterfactual.words import ALPHA, token_edit_distance, word_diff
from pellucid.errors import InvalidInputError, UnknownNameError

TEXT = "He said the movie was awful , but John and his American friends loved it . The Christian man was young ."
NO_MODEL = [
    "identity",
    "word_replace",
    "demographic_swap",
    "synonyms",
    "typos",
    "case_and_whitespace",
    "scramble",
    "drop_word",
    "injection",
]
PARAMS = {"word_replace": {"pairs": "awful=>excellent"}}


def test_registry_lists_every_generator_of_the_issue() -> None:
    assert set(GENERATORS) == {*NO_MODEL, "paraphrase", "ablation_flip"}
    for spec in GENERATORS.values():
        described = spec.describe()
        json.dumps(described)
        assert described["description"] and described["name"] == spec.name


@pytest.mark.parametrize("name", NO_MODEL)
def test_contract_deterministic_and_checkable(name: str) -> None:
    first = generate_edits(TEXT, name, seed=7, **PARAMS.get(name, {}))
    again = generate_edits(TEXT, name, seed=7, **PARAMS.get(name, {}))
    assert first and [e.to_dict() for e in first] == [e.to_dict() for e in again]
    for edit in first:
        assert edit.generator == name
        assert edit.check(TEXT), f"{name}: changes do not rebuild {edit.text!r}"
        json.dumps(edit.to_dict())
        if name == "identity":
            assert edit.text == TEXT and not edit.changes
            continue
        assert edit.text != TEXT and edit.changes
        # the word diff touches only words inside the declared spans
        spans = [(c.start, c.end) for c in edit.changes]
        declared_old = " ".join(c.old for c in edit.changes)
        for d in word_diff(TEXT, edit.text):
            for w in d.old:
                if d.op != "equal" and name not in ("case_and_whitespace", "scramble", "injection"):
                    assert w in declared_old, f"{name} changed {w!r} without declaring it"
        assert all(0 <= a <= b <= len(TEXT) for a, b in spans)


def test_seeds_change_random_generators() -> None:
    a = [e.text for e in generate_edits(TEXT, "typos", seed=1)]
    b = [e.text for e in generate_edits(TEXT, "typos", seed=2)]
    assert a != b


def test_typos_are_single_character_operations_on_letters() -> None:
    for edit in generate_edits(TEXT, "typos", seed=3, n=20, rate=0.3):
        for ch in edit.changes:
            assert ALPHA.fullmatch(ch.old) and ch.kind in ("neighbour", "deletion", "duplication", "swap")
            # one keystroke: a substitution/deletion/duplication is distance 1, a swap of two letters 2
            assert 1 <= token_edit_distance(ch.old, ch.new) <= 2
            if ch.kind == "swap":
                assert sorted(ch.old) == sorted(ch.new)
            if ch.kind == "deletion":
                assert len(ch.new) == len(ch.old) - 1


def test_typo_rate_controls_how_many_words_change() -> None:
    low = sum(len(e.changes) for e in generate_edits(TEXT, "typos", seed=0, n=10, rate=0.0))
    high = sum(len(e.changes) for e in generate_edits(TEXT, "typos", seed=0, n=10, rate=0.8))
    assert low == 10  # at least (and with rate 0, exactly) one typo per edit
    assert high > 5 * low


def test_word_replace_preserves_case_and_reports_unmatched() -> None:
    from pellucid.counterfactual.gen_text import replace_pairs

    edit, unmatched = replace_pairs("Awful! Truly awful, not awfully bad.", [("awful", "great"), ("terrible", "fine")])
    assert edit.text == "Great! Truly great, not awfully bad."  # whole words only: "awfully" untouched
    assert unmatched == ["terrible"]
    assert edit.meta["unmatched"] == ["terrible"]
    assert generate_edits("nothing to see", "word_replace", pairs="awful=>great") == []
    with pytest.raises(InvalidInputError, match="no '=>'"):
        generate_edits(TEXT, "word_replace", pairs="awful->great")


def test_demographic_swap_exact_outputs(tmp_path: Path) -> None:
    edits = {e.label: e.text for e in generate_edits("She told him that her son is a doctor.", "demographic_swap")}
    assert edits["gender: male<->female"] == "He told her that his daughter is a doctor."
    assert edits["gender: male<->female"] != "She told him that her son is a doctor."
    (back,) = generate_edits("I gave it to her.", "demographic_swap", dimensions="gender")
    assert back.text == "I gave it to him."
    nat = [e for e in generate_edits("The American team won.", "demographic_swap", dimensions="nationality")]
    assert {e.text for e in nat} >= {"The Mexican team won.", "The German team won."}
    assert all(e.meta["dimension"] == "nationality" for e in nat)
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"profession": {"a": ["nurse"], "b": ["engineer"]}}))
    (e,) = generate_edits("The nurse helped.", "demographic_swap", dimensions="profession", lexicon_file=str(extra))
    assert e.text == "The engineer helped."
    with pytest.raises(InvalidInputError, match="available: gender"):
        generate_edits(TEXT, "demographic_swap", dimensions="height")


def test_case_and_whitespace_variants() -> None:
    edits = {e.label: e.text for e in generate_edits("Hello World , ok .", "case_and_whitespace")}
    assert edits["lower"] == "hello world , ok ."
    assert edits["upper"] == "HELLO WORLD , OK ."
    assert edits["double_spaces"] == "Hello  World  ,  ok  ."
    assert edits["no_space_before_punct"] == "Hello World, ok."
    assert edits["trailing_newline"] == "Hello World , ok .\n"


def test_scramble_keeps_first_last_letters_and_multiset() -> None:
    for e in generate_edits(TEXT, "scramble", seed=5, rate=1.0):
        for ch in e.changes:
            assert ch.old[0] == ch.new[0] and ch.old[-1] == ch.new[-1] and sorted(ch.old) == sorted(ch.new)
    words = generate_edits("one two three four", "scramble", seed=1, mode="words")
    assert all(sorted(e.text.split()) == ["four", "one", "three", "two"] for e in words)


def test_drop_word_removes_exactly_one_word() -> None:
    for e in generate_edits(TEXT, "drop_word", n=5, seed=2):
        assert len(e.text.split()) == len(TEXT.split()) - 1


def test_synonyms_use_the_lexicon_and_a_user_file(tmp_path: Path) -> None:
    (e,) = generate_edits("a boring movie", "synonyms", n=1, max_words=1, seed=0, lexicon_file="") or [None]
    assert e is not None and e.changes[0].old in ("boring", "movie")
    f = tmp_path / "syn.tsv"
    f.write_text("zorp\tblip\n")
    (e,) = generate_edits("the zorp", "synonyms", n=1, lexicon_file=str(f))
    assert e.text == "the blip"


def test_injection_generator_appends_and_embeds_with_canaries() -> None:
    edits = generate_edits("First sentence. Second one.", "injection", families="instruction_override")
    assert edits and all(e.text.startswith("First sentence. Second one.\n\n") for e in edits)
    assert all(e.meta["canary"] in e.text for e in edits)
    embedded = generate_edits("First sentence. Second one.", "injection", families="role_play", mode="embed")
    assert all(e.text.startswith("First sentence. ") and e.text.endswith(" Second one.") for e in embedded)


def test_unknown_generator_and_parameter_errors() -> None:
    with pytest.raises(UnknownNameError, match="Available: ablation_flip"):
        generate_edits(TEXT, "tpyos")
    with pytest.raises(InvalidInputError, match="its parameters: n, rate, kinds"):
        generate_edits(TEXT, "typos", speed=3)
    with pytest.raises(InvalidInputError, match="needs a model"):
        generate_edits(TEXT, "ablation_flip")


def test_model_generators_on_the_tiny_model(tiny_lm, minilm) -> None:
    ctx = GenContext(seed=0, lm=tiny_lm, encoder=minilm, options=[" yes", " no"], prompt_template="{text} Answer:")
    text = "The movie was awful and boring."
    flips = generate_edits(text, "ablation_flip", ctx, max_words=3)
    again = generate_edits(
        text,
        "ablation_flip",
        GenContext(seed=0, lm=tiny_lm, options=[" yes", " no"], prompt_template="{text} Answer:"),
        max_words=3,
    )
    assert [e.text for e in flips] == [e.text for e in again]
    for e in flips:
        assert e.check(text) and 1 <= e.meta["removed"] <= 3
        assert all(c.kind == "delete" for c in e.changes)
    # paraphrase: a random tiny model writes nonsense, which the similarity check must reject
    kept = generate_edits(text, "paraphrase", ctx, n=2, max_new_tokens=8, min_similarity=0.95)
    assert all(e.meta["similarity"] >= 0.95 for e in kept)
    loose = generate_edits(text, "paraphrase", ctx, n=2, max_new_tokens=8, min_similarity=0.0)
    assert all(-1.0 <= e.meta["similarity"] <= 1.0 and e.changes[0].old == text for e in loose)
