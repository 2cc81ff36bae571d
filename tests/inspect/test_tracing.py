"""Causal tracing equals the naive loop (noise + restore, one forward per cell and sample); subject errors."""

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import subject_positions, trace
from pellucid.inspect.tracing import _window
from tests.inspect.conftest import CLEAN, assert_intact


def naive_trace(lm, prompt, target, subject, samples, site, window):
    enc = lm.encode(prompt, chat=False)
    ids = torch.tensor([enc.ids])
    subj = subject_positions(enc, subject)
    std = float(lm.embedding_matrix().detach().std())
    delta = torch.randn(samples, len(subj), lm.d_model, generator=torch.Generator().manual_seed(0)) * 3 * std
    _, clean = lm.run_with_cache(ids, [f"blocks.{layer}.{site}" for layer in range(lm.n_layers)])
    tid = lm.encode_target(target)[0]
    out = np.zeros((lm.n_layers, len(enc)))
    for layer in range(lm.n_layers):
        for pos in range(len(enc)):
            probs = []
            for s in range(samples):

                def noise(x, _site, s=s):
                    x = x.clone()
                    x[:, subj] += delta[s]
                    return x

                def restore(x, name, pos=pos):
                    x = x.clone()
                    x[:, pos] = clean[name][:, pos]
                    return x

                hooks = [("embed", noise)] + [
                    (f"blocks.{r}.{site}", restore) for r in _window(layer, window, lm.n_layers)
                ]
                with torch.no_grad(), lm.hooks(hooks):
                    probs.append(float(torch.softmax(lm.forward(ids).logits[0, -1], -1)[tid]))
            out[layer, pos] = np.mean(probs)
    return out


@pytest.mark.parametrize(("site", "window"), [("resid_post", 1), ("mlp.out", 2), ("attn.out", 3)])
def test_trace_equals_the_naive_loop(tiny_lm, site, window):
    ex = trace(
        tiny_lm, CLEAN, target=" Paris", subject="Eiffel Tower", samples=2, site=site, window=window, normalize=False
    )
    expected = naive_trace(tiny_lm, CLEAN, " Paris", "Eiffel Tower", 2, site, window)
    np.testing.assert_allclose(ex.scores, expected, atol=1e-6)
    assert_intact(tiny_lm)


def test_trace_result_and_determinism(tiny_lm):
    a = trace(tiny_lm, CLEAN, target=" Paris", subject="Eiffel Tower", samples=2, seed=1)
    b = trace(tiny_lm, CLEAN, target=" Paris", subject="Eiffel Tower", samples=2, seed=1)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.axes == ("layer", "position") and a.method == "causal_tracing"
    subj = a.meta["subject_positions"]
    assert [a.labels["position"][p] for p in subj] == [" Ei", "ff", "el", " Tow", "er"]
    np.testing.assert_array_equal(a.scores[:, : subj[0]], 0.0)  # before the subject nothing differs
    assert a.scores[-1, -1] == pytest.approx(1.0, abs=1e-5)  # last state restored = clean run
    assert a.label_info("position", "segment")[subj[0]] == "subject"


def test_subject_not_found_is_explained(tiny_lm):
    with pytest.raises(InvalidInputError, match="'Louvre' does not occur in the prompt"):
        trace(tiny_lm, CLEAN, target=" Paris", subject="Louvre")
    with pytest.raises(InvalidInputError, match="A different case matches: 'Eiffel Tower'"):
        trace(tiny_lm, CLEAN, target=" Paris", subject="eiffel tower")
    with pytest.raises(InvalidInputError, match="subject is empty"):
        trace(tiny_lm, CLEAN, target=" Paris", subject=" ")
    with pytest.raises(InvalidInputError, match="samples=0"):
        trace(tiny_lm, CLEAN, target=" Paris", subject="Eiffel", samples=0)
    assert_intact(tiny_lm)


def test_no_hook_after_an_exception(tiny_lm, failing_forward):
    failing_forward(tiny_lm, 3)
    with pytest.raises(RuntimeError, match="on purpose"):
        trace(tiny_lm, CLEAN, target=" Paris", subject="Eiffel Tower", samples=2)
    assert_intact(tiny_lm)
