"""Robustness runs on the tiny model: the identity control, exact deltas, and clear bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pellucid.counterfactual.dataset import load_dataset, resolve_label
from pellucid.counterfactual.report_html import robustness_page
from pellucid.counterfactual.robustness import RobustnessConfig, run_robustness
from pellucid.errors import InvalidInputError

ROWS = [
    ("1", "the movie was excellent and fun"),
    ("0", "the movie was awful and boring"),
    ("1", "she loved it"),
    ("0", ""),
    ("0", "a dull , tedious film"),
]


def _tsv(tmp_path: Path, rows=ROWS, header: str = "label\tcontent") -> Path:
    path = tmp_path / "data.tsv"
    path.write_text(header + "\n" + "\n".join(f"{a}\t{b}" for a, b in rows) + "\n", encoding="utf-8")
    return path


def _config(**kw) -> RobustnessConfig:
    base = dict(
        generators=["identity", "typos", "synonyms"],
        options=[" negative", " positive"],
        template="Review: {text}\nSentiment:",
        chat=False,
    )
    base.update(kw)
    return RobustnessConfig(**base)


def test_identity_flip_rate_is_exactly_zero_and_deltas_are_exact(tiny_lm, tmp_path: Path) -> None:
    ds = load_dataset(_tsv(tmp_path), text_column="content")
    assert ds.skipped_empty == 1 and len(ds.examples) == 4
    report = run_robustness(tiny_lm, ds.examples, _config(params={"typos": {"n": 2}}), skipped_empty=ds.skipped_empty)
    ident = report.generators["identity"]
    assert ident["flips"] == 0 and ident["flip_rate"] == 0.0 and ident["mean_delta_logprob"] == 0.0
    assert ident["edits"] == 4 and ident["accuracy_before"] == ident["accuracy_after"] == report.accuracy_before
    assert report.generators["typos"]["edits"] == 8
    lo, hi = report.generators["typos"]["flip_rate_ci95"]
    assert 0.0 <= lo <= report.generators["typos"]["flip_rate"] <= hi <= 1.0
    # a worst edit's delta equals the directly computed change of log p(label option)
    worst = report.worst["typos"][0]
    ex = next(e for e in ds.examples if e.row == worst["row"])
    target = [" negative", " positive"][int(ex.label)]
    direct = (
        tiny_lm.score(f"Review: {worst['edited']}\nSentiment:", target, chat=False).total
        - tiny_lm.score(f"Review: {worst['original']}\nSentiment:", target, chat=False).total
    )
    assert worst["delta_logprob"] == pytest.approx(direct, abs=1e-4)
    flips = sum(w["flipped"] for w in report.worst["typos"])
    assert flips <= report.generators["typos"]["flips"]
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["skipped_empty"] == 1
    page = robustness_page(report)
    assert page.startswith("<!doctype html>") and "http" not in page.lower().replace("http-equiv", "")
    assert "identity" in page and "<script" not in page


def test_generate_task_on_the_tiny_model(tiny_lm, tmp_path: Path) -> None:
    ds = load_dataset(_tsv(tmp_path), text_column="content", label_column=None, limit=2)
    cfg = _config(
        generators=["identity", "drop_word"],
        task="generate",
        options=None,
        max_new_tokens=3,
        params={"drop_word": {"n": 1}},
    )
    report = run_robustness(tiny_lm, ds.examples, cfg)
    assert report.generators["identity"]["flip_rate"] == 0.0
    assert report.generators["identity"]["mean_delta_logprob"] == 0.0
    assert report.accuracy_before is None and report.generators["drop_word"]["edits"] == 2
    assert np.isfinite(report.generators["drop_word"]["mean_delta_logprob"])


def test_not_applicable_is_counted(tiny_lm, tmp_path: Path) -> None:
    ds = load_dataset(_tsv(tmp_path, [("1", "zzz qqq"), ("0", "he is here")]), text_column="content")
    report = run_robustness(tiny_lm, ds.examples, _config(generators=["demographic_swap"]))
    s = report.generators["demographic_swap"]
    assert s["not_applicable"] == 1 and s["examples_edited"] == 1


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _tsv(tmp_path)
    with pytest.raises(
        InvalidInputError, match=r"no column 'text' \(its columns: label, content\); pass --text-column"
    ):
        load_dataset(path)
    with pytest.raises(InvalidInputError, match="no column 'gold'.*--label-column"):
        load_dataset(path, text_column="content", label_column="gold")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset(tmp_path / "nope.tsv")
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"text": "hi", "label": "positive"}\n{"text": "", "label": "negative"}\n')
    ds = load_dataset(jl)
    assert ds.skipped_empty == 1 and ds.examples[0].label == "positive"


def test_labels_outside_the_options(tiny_lm, tmp_path: Path) -> None:
    assert resolve_label("1", [" negative", " positive"], 3) == 1
    assert resolve_label("Positive", [" negative", " positive"], 3) == 1
    with pytest.raises(InvalidInputError, match=r"Row 3: label 'neutral' is not one of the answer options"):
        resolve_label("neutral", [" negative", " positive"], 3)
    ds = load_dataset(_tsv(tmp_path, [("1", "good"), ("7", "bad")]), text_column="content")
    with pytest.raises(InvalidInputError, match="Row 2: label '7'"):
        run_robustness(tiny_lm, ds.examples, _config())


def test_config_errors(tiny_lm, tmp_path: Path) -> None:
    ds = load_dataset(_tsv(tmp_path), text_column="content")
    with pytest.raises(InvalidInputError, match=r"no \{text\} placeholder"):
        run_robustness(tiny_lm, ds.examples, _config(template="Review:"))
    with pytest.raises(InvalidInputError, match="at least two answer options"):
        run_robustness(tiny_lm, ds.examples, _config(options=[" yes"]))
    with pytest.raises(InvalidInputError, match="Unknown generator"):
        run_robustness(tiny_lm, ds.examples, _config(generators=["typo"]))


def test_sst2_sample_loads(data_dir: Path) -> None:
    ds = load_dataset(data_dir / "sst2" / "dev.tsv", text_column="content", limit=10)
    assert len(ds.examples) == 10 and {str(e.label) for e in ds.examples} <= {"0", "1"}


def test_empty_texts_and_emptied_edits_never_crash_the_run(tiny_lm) -> None:
    from pellucid.counterfactual.dataset import Example

    examples = [Example(1, "good", "1"), Example(2, "   ", "0"), Example(3, "bad film", "0")]
    cfg = _config(generators=["drop_word"], template="{text}", chat=None, params={"drop_word": {"n": 1}})
    report = run_robustness(tiny_lm, examples, cfg)
    assert report.skipped_empty == 1 and report.n_examples == 2
    s = report.generators["drop_word"]
    assert s["not_applicable"] == 1 and s["edits"] == 1  # "good" minus its only word is empty: discarded
