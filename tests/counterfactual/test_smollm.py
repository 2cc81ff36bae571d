"""Integration on the bundled SmolLM2: a word swap flips a zero-shot sentiment answer."""

from __future__ import annotations

import pytest

from pellucid.counterfactual.compare import counterfactual


def test_awful_to_excellent_flips_sentiment(smollm) -> None:
    prompt = "Review: the movie was awful.\nSentiment:"
    res = counterfactual(
        smollm, prompt, replace="awful=>excellent", target=" positive", foil=" negative", chat=False, max_new_tokens=2
    )
    (v,) = res.variants
    # measured: " negative" -> " positive"; log p(" positive") rises by ~2.4 nats, the contrast by ~4.1
    assert res.original.answer.strip().lower().startswith("negative")
    assert v.answer.strip().lower().startswith("positive") and not v.exact_match
    assert v.delta_logprob > 1.0 and v.delta_contrast is not None and v.delta_contrast > 2.0
    direct = smollm.score(v.prompt, " positive", chat=False).total - smollm.score(prompt, " positive", chat=False).total
    assert v.delta_logprob == pytest.approx(direct, abs=1e-4)
