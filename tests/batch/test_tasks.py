"""Each data-set command's batch path gives the answer of its one-process path, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from pellucid.batch import RayOptions, read_results, run_job
from pellucid.cli.main import app

REVIEWS = [
    (1, "this movie was great fun", 1), (2, "awful boring film", 0), (3, "I loved the acting", 1),
    (4, "not good at all", 0), (5, "wonderful and moving story", 1),
]  # fmt: skip


def _robustness_config() -> Any:
    from pellucid.counterfactual.robustness import RobustnessConfig

    return RobustnessConfig(generators=["typos", "drop_word"], options=[" negative", " positive"],
                            template="Review: {text} Sentiment:", chat=False, seed=7)  # fmt: skip


def _comparable(report: Any) -> dict[str, Any]:
    body = report.to_dict()
    for key in ("seconds", "model"):
        body.pop(key)
    return body


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_robustness_in_blocks_equals_one_call(
    backend: str, request: pytest.FixtureRequest, tiny_model: Path, batch_settings: Any, tmp_path: Path
) -> None:
    from pellucid.batch.robustness_task import RobustnessTask, items_of
    from pellucid.counterfactual.dataset import Example
    from pellucid.counterfactual.robustness import run_robustness, summarise_rows
    from pellucid.models import LM

    if backend == "ray":
        request.getfixturevalue("ray_cluster")
    examples = [Example(row, text, label) for row, text, label in REVIEWS]
    config = _robustness_config()
    whole = run_robustness(LM.load(str(tiny_model), batch_settings), examples, config)
    task = RobustnessTask(settings=batch_settings, model=str(tiny_model), config=config)
    out = tmp_path / "edits.parquet"
    run_job(task, items_of(examples), out=out, block_size=2, backend=backend, ray=RayOptions(actors=2))
    blocks = summarise_rows(read_results(out), config, model="tiny")
    assert whole.generators["typos"]["edits"] > 0
    if backend == "local":
        assert _comparable(blocks) == _comparable(whole)
    else:  # one torch thread per actor against two here: sums may differ in the last bits
        _assert_close(_comparable(blocks), _comparable(whole))


def _assert_close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6), path
    else:
        assert a == b, path


def _cli(tmp_path: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 0, result.output
    return result


def test_eval_with_out_equals_eval_in_process(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(
        '{"prompt": "the cat", "reference": "sat on the mat"}\n{"prompt": "a b c", "reference": "d e f"}\n'
        '{"prompt": "hello", "reference": "world", "prediction": "world wide"}\n'
    )
    common = [str(data), "--model", str(tiny_model), "--raw", "--max-new-tokens", "4", "--metrics",
              "bleu,chrf,perplexity", "--json"]  # fmt: skip
    plain = json.loads(_cli(tmp_path, "eval", *common).stdout)
    blocks = json.loads(_cli(tmp_path, "eval", *common, "--out", str(tmp_path / "p.jsonl"), "--block-size", "1").stdout)
    for metric in ("bleu", "chrf", "perplexity"):
        assert blocks["results"][metric]["aggregate"] == pytest.approx(plain["results"][metric]["aggregate"], rel=1e-9)
    rows = read_results(tmp_path / "p.jsonl")
    assert [r["generated"] for r in rows] == [True, True, False] and rows[2]["prediction"] == "world wide"


CALLS = [
    {"prompt": "What is the capital of France?", "response": "Paris is the capital of France.",
     "context": "Paris is the capital and largest city of France."},
    {"prompt": "Email me", "response": "Sure, write to john.doe@example.com or call +1 415 555 0100."},
    {"prompt": "Insult me", "response": "You are a stupid idiot and a moron."},
    {"prompt": "How tall is the tower?", "response": "The tower is 512 metres tall.",
     "context": "The Eiffel Tower is 330 metres tall."},
]  # fmt: skip


@pytest.mark.integration  # embeds with the bundled MiniLM
def test_audit_traffic_rows_and_report(tmp_path: Path) -> None:
    data = tmp_path / "calls.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in CALLS))
    out, rows_out = tmp_path / "audit.html", tmp_path / "rows.parquet"
    _cli(tmp_path, "audit", "traffic", "--dataset", str(data), "--rows", str(rows_out), "--out", str(out),
         "--block-size", "3")  # fmt: skip
    rows = read_results(rows_out)
    assert [r["toxic"] for r in rows] == [False, False, True, False]
    assert rows[1]["pii_count"] == 2 and set(json.loads(rows[1]["pii_kinds"])) == {"EMAIL", "PHONE"}
    assert [r["grounded"] for r in rows] == [True, None, None, False]
    assert "512 metres" in rows[3]["unsupported"]
    report = json.loads(out.with_suffix(".json").read_text())
    scores = {c["check"]: (c["score"], c["passed"]) for c in report["checks"]}
    assert scores == {"traffic_toxicity": (0.25, False), "traffic_pii": (0.25, False),
                      "traffic_groundedness": (0.5, False)}  # fmt: skip
    seconds = {c["check"]: c["seconds"] for c in report["checks"]}
    # each check's own time (the PII patterns take well under the millisecond the report shows)
    assert seconds["traffic_toxicity"] > 0 and seconds["traffic_groundedness"] > 0 and seconds["traffic_pii"] >= 0
    assert sum(seconds.values()) <= report["seconds"]


def test_traffic_check_seconds_add_up_each_rows_share() -> None:
    from pellucid.batch.audit_task import check_seconds

    rows = [
        {"seconds": {"traffic_toxicity": 0.25, "traffic_pii": 0.5}},
        {"seconds": json.dumps({"traffic_toxicity": 0.25, "traffic_pii": 1.0, "traffic_groundedness": 2.0})},
    ]
    assert check_seconds(rows) == {"traffic_toxicity": 0.5, "traffic_pii": 1.5, "traffic_groundedness": 2.0}


@pytest.mark.integration  # embeds with the bundled MiniLM
def test_enrichment_on_ray_writes_what_the_local_enricher_writes(
    ray_cluster: Any, tiny_model: Path, batch_settings: Any, tmp_path: Path
) -> None:
    from pellucid.batch.enrich_task import EnrichTask
    from pellucid.monitor import NewRecord, Store
    from pellucid.monitor.enrich import MARKER
    from pellucid.service.enrichment import Enricher

    calls = [("What is the capital of France?", "Paris."), ("Is this review positive?", "yes"),
             ("Say hi", "Hello there, friend!"), ("Count to three", "one two three")]  # fmt: skip
    stores = [Store.open(f"sqlite:///{tmp_path / name}.db") for name in ("local", "ray")]
    try:
        for store in stores:
            store.repo.insert_records([NewRecord(prompt=p, response=r, model=str(tiny_model)) for p, r in calls])
        Enricher(stores[0], batch_settings, batch_size=3).run_once()
        records = stores[1].analytics.records_missing(MARKER, limit=100)
        writer = Enricher(stores[1], batch_settings)
        run_job(EnrichTask(settings=batch_settings), [{"row": i, "record": r} for i, r in enumerate(records)],
                backend="ray", block_size=2, ray=RayOptions(actors=2),
                on_rows=lambda _b, rows: [writer.write(r["vectors"], r["values"]) for r in rows])  # fmt: skip
        assert writer.pending() == 0
        by_prompt = [{r.prompt_text: store.repo.get_record(r.id).metrics for r in
                      store.repo.list_records(limit=10).items} for store in stores]  # fmt: skip
        for prompt, _ in calls:
            local, remote = by_prompt[0][prompt], by_prompt[1][prompt]
            assert local["perplexity"] is not None and set(local) == set(remote)
            for name, value in local.items():
                assert remote[name] == pytest.approx(value, rel=1e-5), name
        for field in ("prompt", "response"):
            a, b = (store.repo.get_embeddings(field)[1] for store in stores)
            np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0), atol=1e-6)
    finally:
        for store in stores:
            store.close()


@pytest.mark.integration  # embeds with the bundled MiniLM
def test_audit_traffic_of_stored_calls_saves_metrics_on_records(tmp_path: Path) -> None:
    from pellucid.monitor import NewRecord, Store
    from pellucid.settings import Settings

    settings = Settings(home=tmp_path / "home")
    with Store.open(settings=settings) as store:
        store.repo.insert_records(
            [
                NewRecord(prompt=c["prompt"], response=c["response"], model="m", metadata={"context": c.get("context")})
                for c in CALLS
            ]  # fmt: skip
        )
    out = tmp_path / "audit.html"
    shown = _cli(tmp_path, "audit", "traffic", "--window", "last:1d", "--save-metrics", "--out", str(out),
                 "--block-size", "2")  # fmt: skip
    # 4 calls: toxicity and pii_count on each, grounded on the 2 with a context
    assert "saved 10 metric values on 4 records" in shown.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["model"] == "m" and report["meta"]["rows"] == 4
    with Store.open(settings=settings) as store:
        by_prompt = {
            r.prompt_text: store.repo.get_record(r.id).metrics for r in store.repo.list_records(limit=10).items
        }
    assert by_prompt["Insult me"]["toxicity"] >= 0.5 and by_prompt["Email me"]["pii_count"] == 2.0
    assert by_prompt["What is the capital of France?"]["grounded"] == 1.0
    assert by_prompt["How tall is the tower?"]["grounded"] == 0.0 and "grounded" not in by_prompt["Email me"]
