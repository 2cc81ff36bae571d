"""Chat segments, offsets and words on the tiny tokenizer (ChatML with a default system prompt)."""

import pytest

from pellucid.errors import InvalidInputError


def test_chat_segments_words_and_offsets(tiny_lm):
    enc = tiny_lm.encode("What is the capital of France?")
    assert enc.chat
    user = enc.positions("user")
    assert "".join(enc.tokens[i] for i in user) == "What is the capital of France?"
    # the default system prompt inserted by the template is found and labelled
    assert "".join(enc.tokens[i] for i in enc.positions("system")) == "You are a tiny test model."
    # markup is template, including the assistant header at the end
    assert enc.segments[0] == "template" and enc.segments[-1] == "template"
    for tok, (a, b) in zip(enc.tokens, enc.offsets):
        assert enc.text[a:b] == tok
    words = [enc.text[a:b] for a, b in enc.word_spans]
    assert words[-7:] == ["What", "is", "the", "capital", "of", "France", "?"]
    user_words = sorted({enc.words[i] for i in user})
    assert [words[w] for w in user_words] == ["What", "is", "the", "capital", "of", "France", "?"]
    assert all(enc.words[i] == -1 for i in enc.positions("template"))


def test_explicit_system_and_multi_turn(tiny_lm):
    msgs = [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "how are you?"},
    ]
    enc = tiny_lm.encode(msgs, system="Be brief.")
    seg_text = lambda s: "".join(enc.tokens[i] for i in enc.positions(s))  # noqa: E731
    assert seg_text("system") == "Be brief."
    assert seg_text("assistant") == "Hello"
    assert seg_text("user") == "Hello therehow are you?"


def test_raw_prompt_is_all_user(tiny_lm):
    enc = tiny_lm.encode("the quick brown fox", chat=False)
    assert not enc.chat and set(enc.segments) == {"user"}
    assert "".join(enc.tokens) == "the quick brown fox"


@pytest.mark.parametrize("bad", ["", "   ", [{"role": "user", "content": ""}]])
def test_empty_prompt_is_rejected(tiny_lm, bad):
    with pytest.raises(InvalidInputError, match="empty"):
        tiny_lm.encode(bad)


def test_malformed_message_and_double_system(tiny_lm):
    with pytest.raises(InvalidInputError, match="'role' and 'content'"):
        tiny_lm.encode([{"content": "hi"}])
    with pytest.raises(InvalidInputError, match="only one"):
        tiny_lm.encode([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}], system="c")
