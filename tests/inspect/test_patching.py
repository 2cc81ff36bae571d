"""Activation patching: the fast sweep equals one forward per patch; self-patching gives 1 / 0; bad input."""

import numpy as np
import pytest
import torch

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.inspect import align_ids, attribution_patch, patch
from pellucid.inspect._common import normalise
from pellucid.inspect._runner import plan_chunks
from tests.inspect.conftest import CLEAN, CORRUPTED, FAMILIES, assert_intact

SITES = ["resid_pre", "resid_post", "attn.out", "mlp.out", "heads"]


@pytest.mark.parametrize("fixture", FAMILIES)
@pytest.mark.parametrize("site", SITES)
def test_fast_equals_naive(request, fixture, site):
    lm = request.getfixturevalue(fixture)
    kwargs = dict(target=" Paris", foil=" the", site=site, normalize=False)
    fast = patch(lm, CLEAN, CORRUPTED, **kwargs)
    naive = patch(lm, CLEAN, CORRUPTED, method="naive", **kwargs)
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4, rtol=0)
    assert fast.meta["forward_passes"] < naive.meta["forward_passes"]
    assert_intact(lm)


def test_fast_equals_naive_on_chosen_cells_and_noising(tiny_lm):
    kwargs = dict(target=" Paris", foil=" the", layers=[2, 0], positions=[3, -1, 7], direction="noise")
    fast = patch(tiny_lm, CLEAN, CORRUPTED, **kwargs)
    naive = patch(tiny_lm, CLEAN, CORRUPTED, method="naive", **kwargs)
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4)
    assert fast.labels["layer"] == ["2", "0"] and len(fast.labels["position"]) == 3
    heads = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", site="heads", heads=[1, 3], positions=[5, 6])
    heads_naive = patch(
        tiny_lm, CLEAN, CORRUPTED, target=" Paris", site="heads", heads=[1, 3], positions=[5, 6], method="naive"
    )
    np.testing.assert_allclose(heads.scores, heads_naive.scores, atol=1e-4)


@pytest.mark.parametrize("site", SITES)
def test_patching_a_run_into_itself_changes_nothing(tiny_lm, site):
    for prompt in (CLEAN, CORRUPTED):
        ex = patch(tiny_lm, prompt, prompt, target=" Paris", foil=" the", site=site, normalize=False)
        np.testing.assert_allclose(ex.scores, ex.meta["clean_metric"], atol=1e-5)
        assert ex.meta["clean_metric"] == pytest.approx(ex.meta["corrupted_metric"], abs=1e-6)


def test_normalised_scores_are_one_for_clean_and_zero_for_corrupted(tiny_lm):
    ex = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site="resid_post")
    # the last layer's output at the last position *is* the clean run's final state
    assert ex.scores[-1, -1] == pytest.approx(1.0, abs=1e-4)
    # positions before the first differing token hold identical activations: no effect
    first_diff = next(i for i, (a, b) in enumerate(zip(ex.labels["position"], ex.meta["corrupted_tokens"])) if a != b)
    np.testing.assert_allclose(ex.scores[:, :first_diff], 0.0, atol=1e-4)
    noised = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", foil=" the", site="resid_post", direction="noise")
    assert noised.scores[-1, -1] == pytest.approx(0.0, abs=1e-4)
    np.testing.assert_allclose(noised.scores[:, :first_diff], 1.0, atol=1e-4)


def test_result_is_a_layer_by_position_explanation(tiny_lm):
    ex = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris")
    assert ex.axes == ("layer", "position") and ex.kind == "patching"
    assert ex.scores.shape == (tiny_lm.n_layers, len(tiny_lm.encode(CLEAN, chat=False)))
    assert ex.meta["metric"] == "prob" and ex.params["site"] == "resid_pre"
    heads = patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris", site="heads")
    assert heads.axes == ("layer", "head") and heads.scores.shape == (tiny_lm.n_layers, tiny_lm.n_heads)


def test_different_lengths_explain_and_offer_alignment(tiny_lm):
    longer = "The Eiffel Tower is located in the heart of"
    with pytest.raises(InvalidInputError, match=r"16 tokens .* 17.*same length.*align=True"):
        patch(tiny_lm, CLEAN, longer, target=" Paris")
    ex = patch(tiny_lm, CLEAN, longer, target=" Paris", align=True)
    assert ex.meta["aligned"] and ex.scores.shape[1] == 17
    assert_intact(tiny_lm)


def test_align_ids_pads_the_differing_middle():
    a, b = align_ids([1, 2, 3, 9], [1, 5, 6, 7, 9], filler=0)
    assert a == [1, 2, 3, 0, 9] and b == [1, 5, 6, 7, 9]
    a, b = align_ids([1, 5, 6, 7, 9], [1, 2, 9], filler=0)
    assert b == [1, 2, 0, 0, 9]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(layers=[5]), InvalidInputError, r"Layer 5 does not exist.*0\.\.2"),
        (dict(positions=[40]), InvalidInputError, r"Position 40 does not exist.*0\.\.15"),
        (dict(site="heads", heads=[4]), InvalidInputError, r"Head 4 does not exist.*0\.\.3"),
        (dict(site="mlp.post"), UnknownNameError, r"Unknown site: 'mlp.post'. Available: .*resid_pre"),
        (
            dict(site="blocks.1.resid_pre"),
            InvalidInputError,
            r"without the layer: 'resid_pre' \(and the layer with layers=\[1\]\)",
        ),
        (
            dict(site="blocks.99.nope"),
            InvalidInputError,
            r"Unknown site 'blocks.99.nope': give one of resid_pre, resid_post",
        ),
        (dict(metric="logit_diff"), InvalidInputError, "needs a foil"),
        (dict(metric="accuracy"), UnknownNameError, "Unknown metric"),
        (dict(foil=" Paris"), InvalidInputError, "same token"),
        (dict(direction="sideways"), UnknownNameError, "denoise, noise"),
    ],
)
def test_bad_input_is_explained(tiny_lm, kwargs, error, match):
    with pytest.raises(error, match=match):
        patch(tiny_lm, CLEAN, CORRUPTED, **{"target": " Paris", **kwargs})
    assert_intact(tiny_lm)


def test_identical_prompts_are_refused_by_their_token_ids(tiny_lm, failing_forward):
    failing_forward(tiny_lm, 1)  # refused before any forward pass: the check reads token ids only
    with pytest.raises(InvalidInputError, match=r"same 16 tokens"):
        patch(tiny_lm, CLEAN, CLEAN, target=" Paris")
    with pytest.raises(InvalidInputError, match=r"same 16 tokens"):
        attribution_patch(tiny_lm, CLEAN, CLEAN, target=" Paris")


def test_normalise_refuses_a_gap_within_rounding_and_scales_a_real_one():
    values = torch.tensor([0.2, 0.5])
    for clean, corrupted in [(0.5, 0.5), (3.0, 3.0 * (1 + 1e-7)), (-7.25, -7.25 * (1 - 1e-6)), (0.0, 0.0)]:
        with pytest.raises(InvalidInputError, match="up to rounding"):
            normalise(values, clean, corrupted)
    # a gap far above rounding, at any magnitude, is scaled exactly: clean -> 1, corrupted -> 0
    for clean, corrupted in [(0.5, 0.2), (1e-8, 0.0), (-3.0, 40.0)]:
        out = normalise(torch.tensor([clean, corrupted], dtype=torch.float64), clean, corrupted)
        np.testing.assert_allclose(out.numpy(), [1.0, 0.0], rtol=0, atol=1e-12)  # scale of the result is 1


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_no_hook_or_cut_block_list_after_an_exception(tiny_lm, failing_forward, fail_at):
    failing_forward(tiny_lm, fail_at)
    with pytest.raises(RuntimeError, match="on purpose"):
        patch(tiny_lm, CLEAN, CORRUPTED, target=" Paris")
    assert_intact(tiny_lm)


def test_plan_chunks_covers_positions_in_order():
    for positions, length in [(list(range(16)), 16), ([0, 3, 9], 10), ([5], 6), (list(range(2, 40)), 40)]:
        chunks = plan_chunks(positions, length)
        assert [p for chunk in chunks for p in chunk] == sorted(positions)
    assert len(plan_chunks(list(range(16)), 16, overhead_rows=10_000)) == 1
    assert len(plan_chunks(list(range(16)), 16, overhead_rows=0)) == 16


@pytest.mark.parametrize("site", SITES)
def test_skipping_no_op_cells_changes_nothing(tiny_lm, site):
    kwargs = dict(target=" Paris", foil=" the", site=site, normalize=False)
    skipped = patch(tiny_lm, CLEAN, CORRUPTED, **kwargs)
    computed = patch(tiny_lm, CLEAN, CORRUPTED, skip_identical=False, **kwargs)
    np.testing.assert_allclose(skipped.scores, computed.scores, atol=1e-5)
    assert computed.meta["skipped_cells"] == 0
    if site != "heads":  # positions before "is"/"was" are identical in both runs at every layer
        first_diff = CLEAN.split().index("is")
        assert skipped.meta["skipped_cells"] >= tiny_lm.n_layers * first_diff
