"""Attribution patching: gradient estimate of the patching sweep, with its agreement to exact patching."""

import numpy as np
import pytest

from pellucid.inspect import attribution_patch, patch
from tests.inspect.conftest import CLEAN, CORRUPTED, assert_intact


@pytest.mark.parametrize(("site", "least"), [("resid_pre", 0.5), ("attn.out", 0.9), ("mlp.out", 0.9), ("heads", 0.9)])
def test_estimate_agrees_with_exact_patching(tiny_lm, site, least):
    ex = attribution_patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site=site)
    exact = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site=site)
    np.testing.assert_allclose(ex.meta["exact_scores"], exact.scores)
    agreement = ex.meta["agreement"]
    assert agreement["pearson"] == pytest.approx(np.corrcoef(ex.scores.ravel(), exact.scores.ravel())[0, 1])
    # outputs of single components are patched almost linearly; the whole residual stream less so
    assert agreement["pearson"] > least
    assert ex.meta["forward_passes"] == 2 and ex.meta["backward_passes"] == 1
    assert ex.scores.shape == exact.scores.shape and ex.axes == exact.axes
    assert_intact(tiny_lm)


def test_estimate_is_exact_for_the_last_layer_output(tiny_lm):
    # patching resid_post of the last layer is linear in it up to the final norm: first order is close
    ex = attribution_patch(
        tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site="mlp.out", layers=[-1], compare=False
    )
    exact = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site="mlp.out", layers=[-1])
    np.testing.assert_allclose(ex.scores, exact.scores, atol=0.05)
    assert "agreement" not in ex.meta


def test_no_hook_or_graph_state_after_an_exception(tiny_lm, failing_forward):
    failing_forward(tiny_lm, 2)
    with pytest.raises(RuntimeError, match="on purpose"):
        attribution_patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris")
    assert_intact(tiny_lm)
    assert all(p.grad is None for p in tiny_lm.model.parameters())


def test_seconds_is_the_whole_call_comparison_included(tiny_lm):
    ex = attribution_patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", layers=[0, 1])
    m = ex.meta
    # the whole call contains the estimate and the exact sweep it was compared with (each timed inside it and
    # rounded to 1e-4 s, hence the slack)
    assert m["seconds"] >= m["estimate_seconds"] + m["agreement"]["exact_seconds"] - 2e-4
    alone = attribution_patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", layers=[0, 1], compare=False)
    assert alone.meta["seconds"] >= alone.meta["estimate_seconds"]
