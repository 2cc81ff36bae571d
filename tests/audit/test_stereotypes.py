"""CrowS-Pairs: the score equals a by-hand computation with LM.score, ties give 50 %, bad files are named."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pellucid.audit.stereotypes_check import (
    VARIANT,
    context_prefix,
    load_pairs,
    score_pairs,
    sentence_logprobs,
    stereotypes,
)
from pellucid.errors import InvalidInputError
from tests.audit.conftest import CROWS, PAIRS, write_crows


def test_score_equals_a_direct_computation_with_lm_score(tiny_lm, crows_csv):
    result = stereotypes(tiny_lm, crows_csv)
    bos = context_prefix(tiny_lm)
    prefs, by_type = [], {}
    for more, less, _direction, bias_type in PAIRS:
        a = tiny_lm.score(bos, more, chat=False).total  # log p(sentence | BOS), one call per sentence
        b = tiny_lm.score(bos, less, chat=False).total
        pref = 1.0 if a > b else 0.0 if a < b else 0.5
        prefs.append(pref)
        by_type.setdefault(bias_type, []).append(pref)
    assert result.check == "stereotypes"
    assert result.score == pytest.approx(np.mean(prefs), abs=1e-12)
    assert result.metrics["pairs"] == len(PAIRS)
    for bias_type, values in by_type.items():
        assert result.metrics["per_bias_type"][bias_type]["rate"] == pytest.approx(np.mean(values))
    lo, hi = result.metrics["ci95"]
    assert 0 <= lo <= result.score <= hi <= 1
    assert result.params["variant"] == VARIANT and "pseudo-log-likelihood" in result.limits[0]
    assert result.passed == (result.score <= result.threshold)


def test_batched_scores_equal_one_lm_score_per_sentence(tiny_lm):
    sentences = [s for p in PAIRS for s in p[:2]]
    batched = sentence_logprobs(tiny_lm, sentences, batch_tokens=64)
    single = sentence_logprobs(tiny_lm, sentences, batched=False)
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_a_model_that_scores_both_sentences_equally_gives_50_percent(flat_lm, tmp_path):
    # uniform next-token distribution: equal token counts give equal log-likelihoods
    tok = flat_lm.tokenizer
    words = ["movie", "capital", "review", "Paris", "today", "brown", "lazy", "awful", "fun", "quick"]
    by_len: dict[int, list[str]] = {}
    for w in words:
        by_len.setdefault(len(tok(f"The {w} was here.", add_special_tokens=False)["input_ids"]), []).append(w)
    groups = [ws for ws in by_len.values() if len(ws) >= 2]
    assert groups, "need two words of equal token length"
    rows = [
        (f"The {a} was here.", f"The {b} was here.", "stereo", "gender") for ws in groups for a, b in zip(ws, ws[1:])
    ]
    result = stereotypes(flat_lm, write_crows(tmp_path / "flat.csv", rows))
    assert result.score == 0.5
    assert result.metrics["ties"] == len(rows)
    # and the scoring function itself: equal log-likelihoods are ties, half each way
    pairs = load_pairs(write_crows(tmp_path / "p.csv"))
    assert score_pairs(pairs, np.zeros((len(pairs), 2))).score == 0.5
    assert score_pairs(pairs, np.array([[0.0, -1.0]] * len(pairs))).score == 1.0


def test_missing_column_is_named(tmp_path):
    path = write_crows(
        tmp_path / "bad.csv", [p[:3] for p in PAIRS], ["", "sent_more", "sent_less", "stereo_antistereo"]
    )
    with pytest.raises(InvalidInputError, match="lacks the column 'bias_type'.*its columns: , sent_more"):
        load_pairs(path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_pairs(tmp_path / "nope.csv")


def test_limit_and_findings(tiny_lm, crows_csv):
    result = stereotypes(tiny_lm, crows_csv, limit=3)
    assert result.metrics["pairs"] == 3
    for f in result.findings:
        assert f["log_ratio"] > 0 and f["logprob_more"] > f["logprob_less"]


@pytest.mark.integration
def test_smollm_on_crows_pairs(smollm):
    if not CROWS.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CrowS-Pairs not found at {CROWS}: set PELLUCID_DATA_DIR")
        pytest.skip(f"CrowS-Pairs not found at {CROWS}")
    result = stereotypes(smollm, CROWS, limit=60)  # 200 pairs: 0.570 [0.501, 0.637] (docs/audit.md)
    assert result.metrics["pairs"] == 60
    lo, hi = result.metrics["ci95"]
    assert 0.3 < result.score < 0.9 and lo < result.score < hi
    print(f"SmolLM2 CrowS-Pairs (60 pairs): {result.score:.3f} [{lo:.3f}, {hi:.3f}]")
