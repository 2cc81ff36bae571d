"""LM verbs on tiny random models: score, generate, forward, context-length errors."""

import pytest
import torch

from pellucid.errors import InvalidInputError, PromptTooLongError


def direct_logprobs(lm, prompt_ids, target_ids):
    """Reference: full forward over prompt+target, read each target token's log-prob."""
    ids = torch.tensor([prompt_ids + target_ids])
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(ids).logits[0].float(), -1)
    start = len(prompt_ids)
    return [float(logp[start + i - 1, t]) for i, t in enumerate(target_ids)]


@pytest.mark.parametrize("fixture", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_score_equals_direct_computation(request, fixture):
    lm = request.getfixturevalue(fixture)
    out = lm.score("What is the capital of", " France is Paris", chat=False)
    enc = lm.encode("What is the capital of", chat=False)
    expected = direct_logprobs(lm, enc.ids, out.token_ids)
    assert out.logprobs == pytest.approx(expected, abs=1e-5)
    assert out.total == pytest.approx(sum(expected), abs=1e-5)
    assert "".join(out.tokens) == " France is Paris"


def test_chat_score_uses_template(tiny_lm):
    chat = tiny_lm.score("Hello there", " Hello")
    raw = tiny_lm.score("Hello there", " Hello", chat=False)
    enc = tiny_lm.encode("Hello there")
    assert chat.logprobs == pytest.approx(direct_logprobs(tiny_lm, enc.ids, chat.token_ids), abs=1e-5)
    assert chat.logprobs != pytest.approx(raw.logprobs, abs=1e-6)


def test_greedy_generation_matches_argmax_and_logprobs(tiny_lm):
    gen = tiny_lm.generate("Hello there", max_new_tokens=6)
    enc = tiny_lm.encode("Hello there")
    ids = list(enc.ids)
    for tok, lp in zip(gen.token_ids, gen.logprobs):
        with torch.no_grad():
            logp = torch.log_softmax(tiny_lm.model(torch.tensor([ids])).logits[0, -1], -1)
        assert int(logp.argmax()) == tok
        assert lp == pytest.approx(float(logp[tok]), abs=1e-4)
        ids.append(tok)
    assert gen.finish_reason in ("length", "stop")


def test_sampling_is_seeded_and_leaves_global_rng(tiny_lm):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = tiny_lm.generate("Hello", max_new_tokens=8, temperature=1.5, seed=7)
    after = torch.rand(1)
    b = tiny_lm.generate("Hello", max_new_tokens=8, temperature=1.5, seed=7)
    c = tiny_lm.generate("Hello", max_new_tokens=8, temperature=1.5, seed=8)
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids
    assert torch.equal(before, after)  # generation did not consume the caller's random stream


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_new_tokens": 0}, "max_new_tokens=0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
        ({"top_p": 0.0}, "top_p=0.0"),
    ],
)
def test_generate_rejects_bad_parameters(tiny_lm, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        tiny_lm.generate("Hello", **kwargs)


def test_too_long_prompt_names_both_lengths(tiny_lm):
    prompt = "hello " * 400
    with pytest.raises(PromptTooLongError, match=r"context window of 256 tokens"):
        tiny_lm.score(prompt, " x")
    with pytest.raises(PromptTooLongError, match="256"):
        tiny_lm.generate("Hello", max_new_tokens=1000)


def test_empty_target_is_rejected(tiny_lm):
    with pytest.raises(InvalidInputError, match="target is empty"):
        tiny_lm.score("Hello", "")


def test_info_describes_model(tiny_lm):
    info = tiny_lm.info()
    assert (info.architecture, info.layers, info.heads, info.d_model, info.context_length) == ("llama", 3, 4, 32, 256)
    assert info.parameters == sum(p.numel() for p in tiny_lm.model.parameters())


def test_forward_takes_what_run_with_cache_takes(tiny_lm):
    enc = tiny_lm.encode("Hello there", chat=False)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        from_ids = tiny_lm.forward(ids).logits
        from_encoding = tiny_lm.forward(enc).logits
        from_text = tiny_lm.forward("Hello there").logits  # the tiny model has a chat template: same as encode()
    expected_text = tiny_lm.encode("Hello there").ids
    assert from_ids.shape == from_encoding.shape and from_text.shape[1] == len(expected_text)
    assert torch.equal(from_ids, from_encoding)  # the same ids in the same batch shape: the same computation
    logits, _ = tiny_lm.run_with_cache("Hello there", ["embed"])
    torch.testing.assert_close(from_text, logits, rtol=1e-5, atol=1e-5 * float(logits.abs().max()))
