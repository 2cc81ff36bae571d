"""LM.stream: pieces as tokens arrive, equal to LM.generate, stop strings, cancellation."""

from __future__ import annotations

import pytest

from pellucid.errors import InvalidInputError, PromptTooLongError

MESSAGES = [{"role": "user", "content": "Hello there"}]


@pytest.mark.parametrize("sampling", [{}, {"temperature": 1.0, "seed": 1}, {"temperature": 0.8, "seed": 5}])
def test_pieces_concatenate_to_generate(tiny_lm, sampling):
    expected = tiny_lm.generate(MESSAGES, max_new_tokens=12, **sampling)
    stream = tiny_lm.stream(MESSAGES, max_new_tokens=12, **sampling)
    pieces = list(stream)
    assert "".join(pieces) == stream.text == expected.text
    assert all(pieces) and len(pieces) > 1
    assert stream.token_ids == expected.token_ids and stream.finish_reason == expected.finish_reason
    assert stream.prompt_tokens == len(tiny_lm.encode(MESSAGES)) and stream.first_token_at is not None


def test_stop_strings(tiny_lm):
    full = tiny_lm.generate(MESSAGES, max_new_tokens=12, temperature=1.0, seed=2).text
    stop = full[8:11]
    stream = tiny_lm.stream(MESSAGES, max_new_tokens=12, temperature=1.0, seed=2, stop=[stop])
    assert "".join(stream) == full[:8] == stream.text and stream.finish_reason == "stop"


def test_closing_early_cancels(tiny_lm):
    stream = tiny_lm.stream(MESSAGES, max_new_tokens=200)
    pieces = iter(stream)
    next(pieces)
    pieces.close()
    assert stream.finish_reason == "cancelled" and len(stream.token_ids) < 200


def test_default_length_fills_the_context_and_errors(tiny_lm):
    stream = tiny_lm.stream("Hello", chat=False, max_new_tokens=None)
    assert stream.prompt_tokens + 1 <= tiny_lm.context_length
    with pytest.raises(PromptTooLongError, match="context window of 256"):
        tiny_lm.stream("Hello", chat=False, max_new_tokens=1000)
    with pytest.raises(InvalidInputError, match="top_p=0"):
        tiny_lm.stream("Hello", top_p=0)


def test_versions(tiny_lm, tiny_gpt2):
    assert tiny_lm.version.startswith("cfg-") and tiny_lm.version == tiny_lm.version
    assert tiny_lm.version != tiny_gpt2.version
    assert tiny_lm.template_version.startswith("tpl-") and tiny_gpt2.template_version is None
