"""Faithfulness metrics: ERASER comprehensiveness/sufficiency and deletion/insertion AOPC."""

import json
import math

import numpy as np
import pytest
import torch

from pellucid.attribution import explain
from pellucid.attribution.base import score_masks
from pellucid.attribution.faithfulness import (
    TABLE_COLUMNS,
    build_context,
    curve_masks,
    faithfulness,
    faithfulness_table,
    level_count,
    load_prompts,
    ranking,
    replacement_for,
)
from pellucid.errors import InvalidInputError
from pellucid.types import Explanation

PROMPT = "What is the capital of France?"
TARGET = " Paris is nice"


@pytest.fixture(scope="module")
def occ(tiny_lm):
    return explain(tiny_lm, PROMPT, TARGET, method="occlusion", granularity="token")


def _direct_sequence_logprob(lm, ids, target_ids):
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([ids + target_ids[:-1]])).logits[0].float(), -1)
    return sum(float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(target_ids))


def test_comprehensiveness_at_full_level_equals_direct_difference(tiny_lm, occ):
    rep = faithfulness(tiny_lm, occ, levels=(1.0,), n_random=1)
    enc = tiny_lm.encode(PROMPT)
    target_ids = tiny_lm.encode_target(TARGET)
    info = occ.meta["label_info"]["input"]
    removed = list(enc.ids)
    for positions, attributed in zip(info["positions"], info["attributed"]):
        if attributed:
            for p in positions:
                removed[p] = tiny_lm.tokenizer.pad_token_id
    full = _direct_sequence_logprob(tiny_lm, list(enc.ids), target_ids)
    empty = _direct_sequence_logprob(tiny_lm, removed, target_ids)
    assert rep["f_full"] == pytest.approx(full, abs=1e-4)
    assert rep["comprehensiveness"]["by_level"][0] == pytest.approx(full - empty, abs=1e-4)
    assert rep["comprehensiveness"]["aopc"] == pytest.approx(full - empty, abs=1e-4)
    assert rep["f_empty"] == pytest.approx(empty, abs=1e-4)


def test_sufficiency_with_everything_kept_is_zero(tiny_lm, occ):
    rep = faithfulness(tiny_lm, occ, levels=(1.0,), n_random=1)
    assert rep["sufficiency"]["by_level"] == [0.0]
    assert rep["deletion"]["curve"][0] == rep["f_full"] == rep["insertion"]["curve"][-1]


def test_occlusion_ranking_beats_random_deletion(tiny_lm, occ):
    rep = faithfulness(tiny_lm, occ, n_random=5, seed=1)
    deletion = rep["deletion"]
    # the exact leave-one-out ranking removes the single most harmful feature first: no order can drop more at step 1
    ctx = build_context(tiny_lm, occ)
    n = ctx.n_features
    rng = np.random.default_rng(1)
    singles = [deletion["curve"][1]]
    for _ in range(5):
        masks = curve_masks(rng.permutation(n), insertion=False)[1:2]
        singles.append(score_masks(ctx, masks, replacement_for(tiny_lm, occ))[0, -1])
    assert deletion["curve"][1] == pytest.approx(min(singles), abs=1e-6)
    assert deletion["aopc"] >= deletion["random_aopc"]
    assert deletion["difference"] == pytest.approx(deletion["aopc"] - deletion["random_aopc"])
    json.dumps(rep, allow_nan=False)


def test_batched_equals_per_step(tiny_lm, occ):
    rep = faithfulness(tiny_lm, occ, row=0, n_random=1)
    ctx = build_context(tiny_lm, occ)
    order = ranking(occ.scores[0, ctx.units.features])
    replacement = replacement_for(tiny_lm, occ)
    for insertion, key in ((False, "deletion"), (True, "insertion")):
        masks = curve_masks(order, insertion)
        steps = [ctx.scorer.score(_variant(ctx, m, replacement))[0, 0].item() for m in masks]
        np.testing.assert_allclose(rep[key]["curve"], steps, atol=1e-4)
    assert rep["row"] == occ.labels["target"][0]


def _variant(ctx, mask, replacement):
    ids = torch.tensor([ctx.encoding.ids])
    for keep, positions in zip(mask, ctx.units.feature_positions):
        if not keep:
            ids[0, positions] = replacement
    return ids


def test_levels_keep_at_least_one_feature():
    assert level_count(0.01, 7) == 1 and level_count(0.5, 7) == 4 and level_count(1.0, 7) == 7


def test_bad_inputs(tiny_lm, occ):
    labels = {"layer": ["a", "b"], "position": ["x", "y", "z"]}
    other = Explanation(np.zeros((2, 3)), axes=("layer", "position"), labels=labels, method="m", model=tiny_lm.name)
    with pytest.raises(InvalidInputError, match="axes"):
        faithfulness(tiny_lm, other)
    with pytest.raises(InvalidInputError, match="Row 9 does not exist"):
        faithfulness(tiny_lm, occ, row=9)
    with pytest.raises(InvalidInputError, match="Unknown row"):
        faithfulness(tiny_lm, occ, row="nope")
    with pytest.raises(InvalidInputError, match="fractions"):
        faithfulness(tiny_lm, occ, levels=(0.0,))
    bare = Explanation(scores=occ.scores, axes=occ.axes, labels=occ.labels, method="occlusion", model=tiny_lm.name)
    with pytest.raises(InvalidInputError, match="meta"):
        faithfulness(tiny_lm, bare)


def test_load_prompts(tmp_path):
    tsv = tmp_path / "dev.tsv"
    tsv.write_text('label\tcontent\n1\ta "great" film .\n0\t   \n0\tdull .\n', encoding="utf-8")
    data = load_prompts(tsv)
    assert data.skipped == 1 and data.targets == [" positive", " negative"]
    assert data.prompts[0] == 'Review: a "great" film .\nIs this review positive or negative? Answer:'
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "Hi", "target": " there"}\n{"prompt": ""}\n{"prompt": "Yo"}\n', encoding="utf-8")
    data = load_prompts(jsonl, limit=5)
    assert data.prompts == ["Hi", "Yo"] and data.targets == [" there", None] and data.skipped == 1
    (tmp_path / "x.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="must end in"):
        load_prompts(tmp_path / "x.txt")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_prompts(tmp_path / "missing.tsv")


def test_table_on_tiny(tiny_lm):
    table = faithfulness_table(tiny_lm, [PROMPT], [" Paris"], ["occlusion", "attention"], n_random=1)
    assert list(table.columns) == list(TABLE_COLUMNS) and list(table["method"]) == ["occlusion", "attention"]


@pytest.mark.integration
def test_sst2_occlusion_vs_attention(smollm, data_dir):
    data = load_prompts(data_dir / "sst2" / "dev.tsv", limit=3)
    assert len(data.prompts) == 3
    seen = []
    table = faithfulness_table(
        smollm, data.prompts, data.targets, ["occlusion", "attention"],
        progress=lambda done, total: seen.append(done), chat=False, granularity="sentence", n_random=1,
    )  # fmt: skip
    assert list(table.columns) == list(TABLE_COLUMNS) and seen[-1] == 6
    numbers = table.drop(columns="method").to_numpy(dtype=float)
    assert all(math.isfinite(x) for x in numbers.ravel())
