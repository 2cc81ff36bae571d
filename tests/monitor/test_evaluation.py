"""Evaluation runs: data sets with bad lines, metric values equal to the libraries', custom
metrics, storage round trip, comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.monitor.eval_data import read_dataset
from pellucid.monitor.evaluation import compare_runs, evaluate

ROWS = [
    {
        "prompt": "Capital of France?",
        "reference": "Paris is the capital of France.",
        "prediction": "The capital is Paris.",
    },
    {"prompt": "2+2?", "reference": "Four.", "prediction": "four"},
    {"prompt": "Colour of the sky?", "reference": ["Blue.", "It is blue."], "prediction": "The sky is blue today."},
]


def write_jsonl(path: Path, rows: list, extra_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    for index, text in (extra_lines or {}).items():
        lines.insert(index, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_lines_are_named_and_skipped(tmp_path: Path) -> None:
    bad = {1: "{not json", 3: json.dumps({"prompt": "no reference"}), 4: json.dumps({"prompt": "", "reference": "x"})}
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", ROWS, bad))
    assert [i.line for i in data.items] == [1, 3, 6]
    assert [s.line for s in data.skipped] == [2, 4, 5]
    assert "not valid JSON" in data.skipped[0].reason and "reference" in data.skipped[1].reason
    assert "prompt" in data.skipped[2].reason


def test_csv_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text('prompt,reference,prediction\n"Hi, you",Hello,Hello\nQ2,,x\nQ3,R3,\n')
    data = read_dataset(tmp_path / "d.csv")
    assert [(i.line, i.prompt, i.prediction) for i in data.items] == [(2, "Hi, you", "Hello"), (4, "Q3", None)]
    assert data.skipped[0].line == 3 and not data.has_predictions
    (tmp_path / "d.tsv").write_text("prompt\treference\nA\tB\n")
    assert read_dataset(tmp_path / "d.tsv").items[0].reference == "B"
    (tmp_path / "bad.csv").write_text("question,answer\nA,B\n")
    with pytest.raises(InvalidInputError, match="'prompt' and 'reference'"):
        read_dataset(tmp_path / "bad.csv")
    with pytest.raises(InvalidInputError, match=r"\.jsonl, \.csv or \.tsv"):
        read_dataset(tmp_path / "d.txt")


def test_metrics_equal_the_libraries(tmp_path: Path) -> None:
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", ROWS))
    run = evaluate(data, "bleu,chrf,rouge,exact_match", name="base")
    preds = [r["prediction"] for r in ROWS]
    refs = [[r["reference"]] if isinstance(r["reference"], str) else r["reference"] for r in ROWS]
    streams = [[refs[i][k] if k < len(refs[i]) else None for i in range(3)] for k in range(2)]
    assert run.aggregate("bleu") == pytest.approx(sacrebleu.corpus_bleu(preds, streams).score)
    assert run.aggregate("chrf") == pytest.approx(sacrebleu.corpus_chrf(preds, streams).score)
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    expected_l = [max(scorer.score(r, p)["rougeL"].fmeasure for r in rs) for p, rs in zip(preds, refs)]
    assert [e.scores["rougeL"] for e in run.examples] == pytest.approx(expected_l)
    assert run.aggregate("rougeL") == pytest.approx(np.mean(expected_l))
    assert [e.scores["exact_match"] for e in run.examples] == [0.0, 1.0, 0.0]
    assert run.metrics == ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match"]
    assert run.n_examples == 3 and run.n_skipped == 0


def test_custom_metric_by_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_metrics_eval.py").write_text(
        "def length_ratio(prediction, reference):\n    return len(prediction) / len(reference)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", ROWS[:2]))
    run = evaluate(data, "my_metrics_eval:length_ratio,exact_match")
    assert [e.scores["length_ratio"] for e in run.examples] == pytest.approx([21 / 31, 4 / 5])
    assert run.results["length_ratio"]["details"]["custom"] is True
    sys.modules.pop("my_metrics_eval", None)


def test_generation_perplexity_and_similarity(tmp_path: Path) -> None:
    rows = [{"prompt": "a", "reference": "alpha"}, {"prompt": "b", "reference": "beta", "prediction": "beta"}]
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    generated = []

    def generate(prompt):
        generated.append(prompt)
        return "alpha", [-0.5, -1.5]

    def score(prompt, prediction):
        return [-2.0]

    def embed(texts):
        return np.array([[1.0, 0.0] if t.startswith("a") else [0.6, 0.8] for t in texts])

    progress = []
    run = evaluate(
        data,
        "perplexity,semantic_similarity,exact_match",
        generate=generate,
        score=score,
        embed=embed,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert generated == ["a"] and progress == [(1, 1)]
    assert [e.prediction for e in run.examples] == ["alpha", "beta"]
    assert [e.scores["perplexity"] for e in run.examples] == pytest.approx([np.exp(1.0), np.exp(2.0)])
    assert run.aggregate("semantic_similarity") == pytest.approx(1.0)
    assert run.params["generated"] == 1
    with pytest.raises(InvalidInputError, match="no prediction"):
        evaluate(data, "exact_match")


def test_store_round_trip_and_compare(tmp_path: Path, store: Store) -> None:
    data = read_dataset(write_jsonl(tmp_path / "d.jsonl", ROWS))
    a = evaluate(data, "bleu,exact_match", name="base", model="m", model_version="v1")
    better = [
        dict(r, prediction=r["reference"] if isinstance(r["reference"], str) else r["reference"][0]) for r in ROWS
    ]
    b = evaluate(read_dataset(write_jsonl(tmp_path / "e.jsonl", better)), "bleu,exact_match", name="cand")
    store.evals.insert_eval_run(a)
    store.evals.insert_eval_run(b)
    got = store.evals.get_eval_run("base")
    assert got.id == a.id and got.model_version == "v1" and got.aggregate("bleu") == pytest.approx(a.aggregate("bleu"))
    assert [e.scores for e in got.examples] == [e.scores for e in a.examples]
    assert got.examples[2].reference == ["Blue.", "It is blue."]
    assert [r.name for r in store.evals.list_eval_runs()] == ["cand", "base"]
    rows = {r.metric: r for r in compare_runs(got, store.evals.get_eval_run(b.id))}
    assert rows["exact_match"].a == pytest.approx(1 / 3) and rows["exact_match"].b == 1.0
    assert rows["exact_match"].diff == pytest.approx(2 / 3) and rows["exact_match"].better == "b"
    assert (rows["exact_match"].wins, rows["exact_match"].losses, rows["exact_match"].ties) == (2, 0, 1)
    with pytest.raises(LookupError, match="No evaluation run"):
        store.evals.get_eval_run("nope")
