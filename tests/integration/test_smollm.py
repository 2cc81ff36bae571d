"""The bundled SmolLM2 and MiniLM: known answers from the real models."""

import math

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.integration


def test_generates_known_answer(smollm):
    gen = smollm.generate("What is the capital of France?", max_new_tokens=20)
    assert gen.text == "The capital of France is Paris."
    assert gen.finish_reason == "stop"
    assert len(gen.tokens) == len(gen.logprobs) == len(gen.token_ids)
    assert all(lp <= 0 for lp in gen.logprobs)


def test_scores_known_fact(smollm):
    out = smollm.score("The Eiffel Tower is located in the city of", " Paris", chat=False)
    assert out.tokens == [" Paris"]
    assert math.exp(out.total) == pytest.approx(0.70, abs=0.03)


def test_chat_segments(smollm):
    enc = smollm.encode("What is the capital of France?")
    assert "".join(enc.tokens[i] for i in enc.positions("user")) == "What is the capital of France?"
    assert "SmolLM" in "".join(enc.tokens[i] for i in enc.positions("system"))
    assert enc.tokens[-2:] == ["istant", "\n"] and enc.segments[-1] == "template"


def test_converted_cache_matches_gguf(smollm, test_settings):
    """The safetensors cache gives the same logits as de-quantizing the GGUF directly."""
    from transformers import AutoModelForCausalLM

    from pellucid.models import fast_linear
    from pellucid.models.registry import BUNDLED

    gguf = BUNDLED["smollm2-135m-instruct"].locate()
    direct = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
    )
    if fast_linear.accelerated(smollm.model):  # same kernels on both sides: only the weights may differ
        fast_linear.accelerate(direct.requires_grad_(False))
    ids = torch.tensor([smollm.encode("What is the capital of France?").ids])
    with torch.no_grad():
        diff = (direct(ids).logits - smollm.forward(ids).logits).abs().max().item()
    assert diff < 1e-5
    assert smollm.source is not None and smollm.source.is_converted


def test_minilm_embeddings(minilm):
    vecs = minilm.embed(
        ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell sharply today."]
    )
    assert vecs.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > 0.5 > sims[0, 2]
    # batching does not change results
    one_by_one = np.vstack(
        [minilm.embed([t], batch_size=1) for t in ["A cat sits on the mat.", "Stock markets fell sharply today."]]
    )
    np.testing.assert_allclose(one_by_one, vecs[[0, 2]], atol=1e-5)
