"""Feature attribution on a tiny random model: exact completeness, finite differences, the self-check."""

from __future__ import annotations

import pytest
import torch

from pellucid.errors import InvalidInputError
from pellucid.features.activations import site_width
from pellucid.features.attribution import _target_logprob, attribute_features, intervene
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from tests.features.test_format_and_eval import SITE, identity_dictionary, random_dictionary
from tests.support.checks import assert_no_hooks

PROMPT = "the cat sat on the mat because"
TARGET = " it was"


def _ids(lm, prompt: str = PROMPT, target: str = TARGET) -> tuple[torch.Tensor, list[int], int]:
    enc = lm.encode(prompt, chat=False)
    target_ids = lm.encode_target(target)
    return torch.tensor([list(enc.ids) + target_ids[:-1]]), target_ids, len(enc)


def _site_gradient_dot(lm, site: str) -> tuple[float, float]:
    """``(F, Σ y · ∂F/∂y)`` at ``site`` over the prompt's positions, computed without any dictionary."""
    ids, target_ids, n = _ids(lm)
    kept: dict[str, torch.Tensor] = {}

    def leaf(value: torch.Tensor, _site: str) -> torch.Tensor:
        out = value.detach().clone().requires_grad_(True)
        kept["y"] = out
        return out

    with torch.enable_grad(), lm.hooks([(site, leaf)]):
        value = _target_logprob(lm.forward(ids).logits, target_ids, n)[0]
        value.backward()
    y = kept["y"]
    assert y.grad is not None
    return float(value.detach()), float((y.detach()[0, :n].double() * y.grad[0, :n].double()).sum())


def _gentle_dictionary(lm, seed: int) -> SparseDictionary:
    """A random dictionary whose latents write vectors about as large as the activations (so effects stay smooth)."""
    dictionary = random_dictionary(lm, seed=seed)
    with torch.no_grad():
        dictionary.W_dec.mul_(0.02)
    return dictionary


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


def test_latents_error_and_bias_sum_to_the_sites_contribution(tiny_lm) -> None:
    dictionary = random_dictionary(tiny_lm, seed=3)
    result = attribute_features(tiny_lm, PROMPT, TARGET, dictionary, chat=False, verify=0)
    plain_value, plain_total = _site_gradient_dot(tiny_lm, SITE)
    summed = sum(n.attribution for n in result.features) + sum(result.error) + sum(result.bias)
    # the splice leaves the forward unchanged: y' = decode(z) + (y - decode(z)) is y up to fp32 rounding
    assert _relative(result.value, plain_value) < 1e-5
    assert _relative(result.total, plain_total) < 1e-4
    # one identity; its rounding is fp32's relative to the largest term (a random dictionary's
    # reconstruction and error are far larger than the total they cancel to)
    largest = max(abs(sum(n.attribution for n in result.features)), abs(sum(result.error)), abs(result.total))
    assert abs(summed - result.total) < 1e-6 * largest
    assert result.meta["completeness_residual"] < 1e-6
    assert len(result.features) == result.meta["active_features"] > 0
    assert_no_hooks(tiny_lm.model)


def test_a_skip_transcoders_linear_term_is_its_own_term(tiny_lm) -> None:
    """The skip term is what the error node of the same transcoder without it would hold beyond its own."""
    kw = {"site_out": "blocks.1.mlp.out", "d_out": site_width(tiny_lm, "blocks.1.mlp.out")}
    with_skip = random_dictionary(tiny_lm, "blocks.1.mlp.in", seed=4, skip=True, **kw)
    with torch.no_grad():
        with_skip.W_dec.mul_(0.05)
        with_skip.W_skip.mul_(0.05)
    without = random_dictionary(tiny_lm, "blocks.1.mlp.in", seed=4, **kw)
    without.load_state_dict({k: v for k, v in with_skip.state_dict().items() if k != "W_skip"})
    a = attribute_features(tiny_lm, PROMPT, TARGET, with_skip, chat=False, verify=0)
    b = attribute_features(tiny_lm, PROMPT, TARGET, without, chat=False, verify=0)
    assert b.skip == [0.0] * len(b.tokens)
    # b_dec alone is the bias (the gradients of the two splices differ by fp32 rounding only)
    assert max(abs(x - y) for x, y in zip(a.bias, b.bias, strict=True)) <= 1e-5 * max(abs(x) for x in b.bias)
    scale = max(abs(x) for x in a.skip)
    assert scale > 0
    for t, (skip, err_a, err_b) in enumerate(zip(a.skip, a.error, b.error, strict=True)):
        assert abs(skip - (err_b - err_a)) <= 1e-5 * max(scale, abs(err_b)), t  # the same gradient, split differently
    summed = sum(n.attribution for n in a.features) + sum(a.error) + sum(a.bias) + sum(a.skip)
    largest = max(abs(sum(n.attribution for n in a.features)), abs(sum(a.error)), abs(sum(a.skip)), abs(a.total))
    assert abs(summed - a.total) < 1e-6 * largest
    assert a.to_dict()["skip"] == a.skip


def test_an_exact_dictionary_leaves_no_error(tiny_lm) -> None:
    result = attribute_features(tiny_lm, PROMPT, TARGET, identity_dictionary(tiny_lm), chat=False, verify=0)
    magnitude = sum(abs(n.attribution) for n in result.features)
    assert sum(abs(e) for e in result.error) < 1e-5 * magnitude
    assert _relative(sum(n.attribution for n in result.features), result.total) < 1e-5


def test_each_attribution_is_the_derivative_of_scaling_its_feature(tiny_lm) -> None:
    """``attribution_i = ∂F/∂s`` where ``s`` scales the feature's contribution: a central difference agrees."""
    dictionary = _gentle_dictionary(tiny_lm, seed=5)
    result = attribute_features(tiny_lm, PROMPT, TARGET, dictionary, chat=False, verify=0)
    ids, target_ids, _ = _ids(tiny_lm)
    for node in result.features[:3]:
        eps = 0.01
        up = intervene(tiny_lm, ids, target_ids, dictionary, [node], scale=1 + eps)
        down = intervene(tiny_lm, ids, target_ids, dictionary, [node], scale=1 - eps)
        slope = (up - down) / (2 * eps)
        assert abs(slope - node.attribution) <= 0.03 * abs(node.attribution) + 1e-4 * abs(result.value), node


def test_the_self_check_ablates_the_top_features_and_reports_agreement(tiny_lm) -> None:
    dictionary = _gentle_dictionary(tiny_lm, seed=7)
    result = attribute_features(tiny_lm, PROMPT, TARGET, dictionary, chat=False, verify=3)
    check = result.meta["self_check"]
    top = [n for n in result.features if n.attribution > 0][:3]
    assert check["ablated"] == len(top) > 0
    ratio = check["measured_change"] / check["predicted_change"]
    assert check["holds"] == (0.5 <= ratio <= 2.0) and ("warning" in check) == (not check["holds"])
    assert check["predicted_change"] == pytest.approx(-sum(n.attribution for n in top), rel=1e-12)
    ids, target_ids, _ = _ids(tiny_lm)
    measured = intervene(tiny_lm, ids, target_ids, dictionary, top) - result.value
    assert check["measured_change"] == pytest.approx(measured, rel=1e-5, abs=1e-6 * abs(result.value))
    assert check["agreement"] == pytest.approx(measured / check["predicted_change"], rel=1e-5)


def test_a_transcoder_splits_the_mlp_output(tiny_lm) -> None:
    d_in, d_out = site_width(tiny_lm, "blocks.1.mlp.in"), site_width(tiny_lm, "blocks.1.mlp.out")
    config = DictionaryConfig(
        "topk", d_in, 3 * d_in, 4, "blocks.1.mlp.in", tiny_lm.name, tiny_lm.version,
        site_out="blocks.1.mlp.out", d_out=d_out,
    )  # fmt: skip
    transcoder = SparseDictionary(config)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in transcoder.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    result = attribute_features(tiny_lm, PROMPT, TARGET, transcoder, chat=False, verify=2)
    _, plain_total = _site_gradient_dot(tiny_lm, "blocks.1.mlp.out")
    assert _relative(result.total, plain_total) < 1e-4
    assert result.meta["completeness_residual"] < 1e-6
    assert result.site == "blocks.1.mlp.out"


def test_a_dictionary_of_another_width_is_refused_naming_both(tiny_lm) -> None:
    d = site_width(tiny_lm, SITE)
    wrong = SparseDictionary(DictionaryConfig("topk", d + 1, 8, 2, SITE, tiny_lm.name, tiny_lm.version))
    with pytest.raises(InvalidInputError, match=rf"{d + 1}.*{d}"):
        attribute_features(tiny_lm, PROMPT, TARGET, wrong, chat=False)
    with pytest.raises(InvalidInputError, match="verify=-1"):
        attribute_features(tiny_lm, PROMPT, TARGET, random_dictionary(tiny_lm), chat=False, verify=-1)
