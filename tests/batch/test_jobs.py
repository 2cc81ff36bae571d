"""Batch jobs give the same rows as explaining each prompt directly, on either backend, and survive kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pellucid import service
from pellucid.batch import ExplainTask, RayOptions, explanation_of, read_results, run_job
from pellucid.batch.explain_task import row_seed
from pellucid.errors import InvalidInputError
from tests.batch.conftest import prompts

#: Scores are differences of fp32 log-probabilities of magnitude up to ~20; rows computed in blocks of another
#: size (another process, another batch shape, another kernel) differ by a few units of 20 × 2⁻²³ ≈ 2.4e-6.
SCORE_ATOL = 2e-5


def _task(tiny_model: Path, settings: Any, **kw: Any) -> ExplainTask:
    return ExplainTask(settings=settings, model=str(tiny_model), raw=True, **kw)


def _scores(rows: list[dict[str, Any]]) -> dict[int, np.ndarray]:
    return {r["row"]: np.array(r["scores"], dtype=float) for r in rows}


def test_local_job_rows_equal_direct_explanations(tiny_model: Path, batch_settings: Any, tmp_path: Path) -> None:
    items = prompts(7)
    report = run_job(_task(tiny_model, batch_settings, method="kernel_shap", params={"n_samples": 24}, seed=3),
                     items, out=tmp_path / "r.parquet", block_size=3)  # fmt: skip
    assert (report.blocks, report.rows_written, report.blocks_skipped) == (3, 7, 0)
    rows = read_results(tmp_path / "r.parquet")
    assert [r["row"] for r in rows] == list(range(7))
    from pellucid.models import LM

    lm = LM.load(str(tiny_model), batch_settings)
    for item, row in zip(items, rows):
        direct = service.explain(lm, item["prompt"], target=" end", method="kernel_shap", raw=True,
                                 seed=row_seed(3, item["row"]), n_samples=24)  # fmt: skip
        np.testing.assert_allclose(np.array(row["scores"], dtype=float), direct.scores[-1], rtol=0, atol=SCORE_ATOL)
        assert explanation_of(row).labels["input"] == direct.labels["input"]
        assert row["explained"] == " end" and row["error"] is None


def test_an_item_error_is_a_row_not_a_crash(tiny_model: Path, batch_settings: Any, tmp_path: Path) -> None:
    items = [*prompts(2), {"row": 2, "prompt": "word " * 5000, "target": " end"}]
    run_job(_task(tiny_model, batch_settings), items, out=tmp_path / "r.jsonl", block_size=2)
    rows = read_results(tmp_path / "r.jsonl")
    assert [r["error"] is None for r in rows] == [True, True, False]
    assert "context" in rows[2]["error"] or "long" in rows[2]["error"]


def test_bad_method_fails_before_any_block(tiny_model: Path, batch_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Unknown attribution method: 'nope'"):
        run_job(_task(tiny_model, batch_settings, method="nope"), prompts(2), out=tmp_path / "r.jsonl")
    assert not list(tmp_path.iterdir()), "nothing is written for a job that cannot run"
    with pytest.raises(InvalidInputError, match="Unknown backend 'spark'"):
        run_job(_task(tiny_model, batch_settings), prompts(2), out=tmp_path / "r.jsonl", backend="spark")


def test_killed_driver_resumes_without_losing_or_repeating_rows(
    tiny_model: Path, batch_settings: Any, tmp_path: Path
) -> None:
    """SIGKILL the CLI once some blocks are on disk; the same command finishes the job."""
    data = tmp_path / "prompts.jsonl"
    import json

    data.write_text("".join(json.dumps({"prompt": p["prompt"], "target": " end"}) + "\n" for p in prompts(12)))
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "pellucid", "explain", "--dataset", str(data), "--model", str(tiny_model), "--raw",
           "--method", "shapley", "--out", str(out), "--block-size", "1"]  # fmt: skip
    env = {**os.environ, "PELLUCID_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = out.with_name(out.name + ".parts")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("block-*.jsonl"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(parts.glob("block-*.jsonl")))
    assert 3 <= written < 12 and not out.exists()
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {written} of 12 blocks" in resumed.stderr
    rows = read_results(out)
    assert [r["row"] for r in rows] == list(range(1, 13)), "rows are numbered from 1, as in the file"
    items = [{**p, "row": i} for i, p in enumerate(prompts(12), start=1)]
    run_job(_task(tiny_model, batch_settings, method="shapley"), items, out=tmp_path / "clean.jsonl", block_size=12)
    expected = _scores(read_results(tmp_path / "clean.jsonl"))
    for row, scores in _scores(rows).items():
        np.testing.assert_allclose(scores, expected[row], rtol=0, atol=SCORE_ATOL)


# -- Ray ------------------------------------------------------------------------------------
def test_ray_backend_gives_the_local_rows(
    ray_cluster: Any, tiny_model: Path, batch_settings: Any, tmp_path: Path
) -> None:
    items = prompts(8)
    task = _task(tiny_model, batch_settings, method="lime", params={"n_samples": 20}, seed=1)
    run_job(task, items, out=tmp_path / "local.jsonl", block_size=2)
    report = run_job(task, items, out=tmp_path / "ray.parquet", block_size=2, backend="ray", ray=RayOptions(actors=2))
    assert (report.backend, report.blocks, report.rows_written) == ("ray", 4, 8)
    local, remote = read_results(tmp_path / "local.jsonl"), read_results(tmp_path / "ray.parquet")
    assert [r["row"] for r in remote] == list(range(8))
    for a, b in zip(local, remote):
        assert a["top"] == b["top"] and a["explained"] == b["explained"]
        np.testing.assert_allclose(np.array(a["scores"], dtype=float), np.array(b["scores"], dtype=float),
                                   rtol=0, atol=SCORE_ATOL)  # fmt: skip


@dataclass
class _DiesOnce(ExplainTask):
    """Kills its own worker process (like the OOM killer would) the first time it meets ``row``."""

    marker: str = ""
    die_at_row: int = 0

    def run_block(self, items: Any) -> list[dict[str, Any]]:
        if any(i["row"] == self.die_at_row for i in items) and os.path.exists(self.marker):
            os.remove(self.marker)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run_block(items)


def test_ray_worker_killed_mid_job_loses_and_repeats_nothing(
    ray_cluster: Any, tiny_model: Path, batch_settings: Any, tmp_path: Path
) -> None:
    ray_cluster.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "die"
    marker.touch()
    items = prompts(10)
    task = _DiesOnce(settings=batch_settings, model=str(tiny_model), raw=True, marker=str(marker), die_at_row=5)
    out = tmp_path / "r.jsonl"
    try:
        run_job(task, items, out=out, block_size=2, backend="ray", ray=RayOptions(actors=2))
    except Exception:  # noqa: BLE001 - Ray may give up on the job instead of retrying the block
        report = run_job(task, items, out=out, block_size=2, backend="ray", ray=RayOptions(actors=2))
        assert report.blocks_skipped >= 1
    assert not marker.exists(), "the worker never died: the test did not test anything"
    rows = read_results(out)
    assert [r["row"] for r in rows] == list(range(10))
    run_job(_task(tiny_model, batch_settings), items, out=tmp_path / "local.jsonl", block_size=5)
    expected = _scores(read_results(tmp_path / "local.jsonl"))
    for row, scores in _scores(rows).items():
        np.testing.assert_allclose(scores, expected[row], rtol=0, atol=SCORE_ATOL)
