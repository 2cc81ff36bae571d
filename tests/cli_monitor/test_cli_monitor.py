"""``pellucid eval`` and ``pellucid monitor`` end to end on a temporary home (SQLite store)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from typer.testing import CliRunner

from pellucid.cli.main import app
from pellucid.monitor import NewRecord, Store
from pellucid.monitor.records import utcnow

ROWS = [
    {"prompt": "Capital of France?", "reference": "Paris is the capital.", "prediction": "The capital is Paris."},
    {"prompt": "2+2?", "reference": "Four.", "prediction": "four"},
]


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture()
def run(home: Path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--home", str(home), *args])

    return invoke


@pytest.fixture()
def store(home: Path):
    opened = Store.open(f"sqlite:///{home / 'pellucid.db'}")
    yield opened
    opened.close()


def write(path: Path, rows: list, bad: str | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if bad is not None:
        lines.insert(1, bad)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eval_stores_runs_and_compares(run, tmp_path: Path) -> None:
    data = write(tmp_path / "a.jsonl", ROWS, bad="{oops")
    res = run("eval", str(data), "--metrics", "bleu,exact_match", "--name", "base", "--json")
    assert res.exit_code == 0, res.output
    assert "line 2" in res.stderr and "skipped" in res.stderr
    out = json.loads(res.stdout)
    preds, refs = [r["prediction"] for r in ROWS], [[r["reference"] for r in ROWS]]
    assert out["results"]["bleu"]["aggregate"] == pytest.approx(sacrebleu.corpus_bleu(preds, refs).score)
    assert (out["n_examples"], out["n_skipped"]) == (2, 1)
    better = write(tmp_path / "b.jsonl", [dict(r, prediction=r["reference"]) for r in ROWS])
    res = run("eval", "run", str(better), "--metrics", "bleu,exact_match", "--name", "cand")
    assert res.exit_code == 0, res.output
    assert "exact_match" in res.stdout and "2 examples" in res.stdout
    runs = json.loads(run("eval", "runs", "--json").stdout)
    assert [r["name"] for r in runs] == ["cand", "base"]
    res = run("eval", "compare", "base", "cand", "--json")
    rows = {r["metric"]: r for r in json.loads(res.stdout)["metrics"]}
    assert rows["exact_match"]["a"] == 0.5 and rows["exact_match"]["b"] == 1.0 and rows["exact_match"]["better"] == "b"
    table = run("eval", "compare", "base", "cand")
    assert table.exit_code == 0 and "+0.5" in table.stdout
    missing = run("eval", "compare", "base", "nope")
    assert missing.exit_code == 2 and "No evaluation run" in missing.stderr


def test_eval_generates_missing_predictions(run, tmp_path: Path, tiny_dir, tiny_lm) -> None:
    data = write(tmp_path / "g.jsonl", [{"prompt": "Hello there", "reference": "Hi"}])
    res = run(
        "eval", str(data), "--metrics", "chrf,perplexity", "--model", str(tiny_dir), "--max-new-tokens", "4", "--json"
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    generated = tiny_lm.generate("Hello there", max_new_tokens=4)
    assert out["params"]["generated"] == 1
    assert out["results"]["perplexity"]["aggregate"] == pytest.approx(np.exp(-np.mean(generated.logprobs)), rel=1e-4)


def test_eval_custom_metric(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_metrics_mod.py").write_text(
        "def shouting(prediction, reference):\n    return float(prediction.isupper())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = write(tmp_path / "c.jsonl", [dict(ROWS[0], prediction="PARIS"), ROWS[1]])
    res = run("eval", str(data), "--metrics", "cli_metrics_mod:shouting", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"]["shouting"]["aggregate"] == 0.5
    bad = run("eval", str(data), "--metrics", "cli_metrics_mod:whisper")
    assert bad.exit_code == 2 and "shouting" in bad.stderr


def test_alerts_commands(run, store: Store) -> None:
    store.repo.insert_records([NewRecord(prompt="q", latency_ms=900.0, created_at=utcnow() - timedelta(minutes=5))])
    res = run("monitor", "alerts", "add", "slow", "mean(latency_ms) > 500 over 1h")
    assert res.exit_code == 0, res.output
    assert run("monitor", "alerts", "add", "bad", "latency > 5").exit_code == 2
    listed = json.loads(run("monitor", "alerts", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["slow"]
    checked = json.loads(run("monitor", "alerts", "check", "--json").stdout)
    assert checked[0]["fired"] and checked[0]["value"] == 900.0
    assert "slow" in run("monitor", "alerts", "check").stdout  # still firing, not fired again
    history = json.loads(run("monitor", "alerts", "history", "--json").stdout)
    assert len(history) == 1 and history[0]["rule_name"] == "slow"
    assert run("monitor", "alerts", "remove", "slow").exit_code == 0
    assert json.loads(run("monitor", "alerts", "list", "--json").stdout) == []


def test_drift_command(run, store: Store) -> None:
    rng = np.random.default_rng(0)
    now = utcnow()
    rows = [
        NewRecord(
            prompt=f"q{i}",
            model_version="v1" if i < 30 else "v2",
            latency_ms=float(100 + (i >= 30) * 50 + i % 7),
            created_at=now - timedelta(minutes=60 - i),
        )
        for i in range(60)
    ]
    store.repo.insert_records(rows)
    store.repo.add_embeddings([(r.id, "prompt", "enc", rng.normal(size=8) + (i >= 30)) for i, r in enumerate(rows)])
    res = run(
        "monitor", "drift", "--reference", "version:v1", "--current", "version:v2", "--json", "--permutations", "100"
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["drifted"] and report["id"] in [r.id for r in store.reports.list_drift_reports()]
    table = run("monitor", "drift", "-r", "version:v1", "-c", "version:v2", "--metrics", "latency_ms", "--no-save")
    assert table.exit_code == 0 and "latency_ms" in table.stdout and "Drift detected" in table.stdout
    bad = run("monitor", "drift", "-r", "version:v1", "-c", "sometime")
    assert bad.exit_code == 2 and "window" in bad.stderr


@pytest.mark.integration  # enrichment embeds with the bundled MiniLM
def test_enrich_correlate_and_explain_record(run, store: Store, tiny_dir, tiny_lm) -> None:
    rows = [
        NewRecord(
            prompt=f"What is the capital of France? ({i})",
            response=" Paris." if i % 2 else " The cat.",
            model=str(tiny_dir),
            latency_ms=float(i),
        )
        for i in range(6)
    ]
    store.repo.insert_records(rows)
    res = run("monitor", "enrich", "--limit", "4", "--json")
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["records"] == 4 and stats["pending"] == 2 and stats["lm_scored"] == 4 and stats["embeddings"] == 8
    assert "Enriched 2 records" in run("monitor", "enrich").stdout
    for i, r in enumerate(rows):
        store.repo.add_feedback(r.id, "thumbs_up" if i % 2 else "thumbs_down")
    corr = json.loads(run("monitor", "correlate", "latency_ms", "--json").stdout)
    assert corr["n"] == 6 and corr["binary"]
    projected = json.loads(run("monitor", "project", "--clusters", "2", "--json").stdout)
    assert len(projected["points"]) == 6
    res = run("explain", "--record", rows[1].id, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["meta"]["target_token_ids"] == tiny_lm.encode_target(" Paris.")
    both = run("explain", "Hello", "--record", rows[1].id)
    assert both.exit_code == 2 and "not both" in both.stderr


def test_reading_a_store_that_does_not_exist_says_so_and_creates_nothing(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    monkeypatch.setenv("PELLUCID_DATABASE_URL", f"sqlite:///{missing}")
    runner = CliRunner()
    for args in (["monitor", "alerts", "list"], ["monitor", "alerts", "history"], ["eval", "runs"]):
        res = runner.invoke(app, ["--home", str(tmp_path / "home"), *args])
        assert res.exit_code == 2, (args, res.output)
        assert "no monitoring store" in res.output and str(missing) in res.output
    assert not missing.exists() and not missing.parent.exists()
    # a command that writes creates it
    res = runner.invoke(app, ["--home", str(tmp_path / "home"), "monitor", "alerts", "add", "slow",
                              "mean(latency_ms) > 500 over 1h"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert missing.is_file()
