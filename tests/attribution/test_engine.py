"""The shared scorer: cached, batched and unbatched evaluation agree with direct computation."""

import numpy as np
import pytest
import torch

from pellucid.attribution.engine import Scorer, TargetSpec, combine_rows


def spec_for(lm, target, foil=None, kind="logprob"):
    ids = lm.encode_target(target)
    foil_ids = lm.encode_target(foil) if foil else None
    return TargetSpec(ids, lm.decode_tokens(ids), kind, foil_ids, lm.decode_tokens(foil_ids) if foil_ids else None)


def random_variants(enc, n, start, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.tensor(enc.ids)
    variants = base.repeat(n, 1)
    for i in range(1, n):
        pos = torch.randint(start, len(base), (2,), generator=g)
        variants[i, pos] = torch.randint(3, 300, (2,), generator=g)
    return variants


@pytest.mark.parametrize("kind", ["logprob", "prob", "logit"])
def test_cached_batched_unbatched_agree(tiny_lm, kind):
    enc = tiny_lm.encode("What is the capital of France?")
    spec = spec_for(tiny_lm, " Paris is nice", kind=kind)
    first = enc.positions("user")[0]
    variants = random_variants(enc, 12, first)
    cached = Scorer(tiny_lm, enc.ids, spec, prefix_len=first, cache=True).score(variants)
    plain = Scorer(tiny_lm, enc.ids, spec, cache=False).score(variants)
    one_by_one = Scorer(tiny_lm, enc.ids, spec, cache=True, batch_tokens=1)
    single = torch.cat([one_by_one.score(variants[i : i + 1]) for i in range(len(variants))])
    np.testing.assert_allclose(cached.numpy(), plain.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(single.numpy(), plain.numpy(), atol=1e-4, rtol=1e-4)
    assert one_by_one.forward_passes >= len(variants)


def test_scores_equal_lm_score(tiny_lm):
    enc = tiny_lm.encode("Hello there")
    spec = spec_for(tiny_lm, " how are you")
    values = Scorer(tiny_lm, enc.ids, spec, prefix_len=5).score(torch.tensor([enc.ids]))[0]
    direct = tiny_lm.score("Hello there", " how are you")
    np.testing.assert_allclose(values[:-1].numpy(), direct.logprobs, atol=1e-5)
    assert float(values[-1]) == pytest.approx(direct.total, abs=1e-5)


def test_contrastive_rows():
    target = torch.tensor([[-1.0, -2.0], [-0.5, -0.5]])
    foil = torch.tensor([[-3.0, -1.0], [-1.0, -2.0]])
    rows = combine_rows(target, foil, "logprob")
    torch.testing.assert_close(rows, torch.tensor([[2.0, -1.0, 1.0], [0.5, 1.5, 2.0]]))
    shorter = combine_rows(target, foil[:, :1], "logprob")
    torch.testing.assert_close(shorter[:, -1], torch.tensor([0.0, 0.0]))


def test_score_embeds_matches_token_scoring(tiny_lm):
    enc = tiny_lm.encode("What is the capital of France?")
    spec = spec_for(tiny_lm, " Paris")
    scorer = Scorer(tiny_lm, enc.ids, spec, prefix_len=enc.positions("user")[0])
    from_tokens = scorer.score(torch.tensor([enc.ids]))
    with torch.no_grad():
        from_embeds = scorer.score_embeds(scorer.embed_suffix())
    np.testing.assert_allclose(from_embeds.double().numpy(), from_tokens.numpy(), atol=1e-5)
