"""Robustness speed on SmolLM2: a full SST-2 run, and batched vs one-at-a-time scoring.

1. **The run**: ``--limit`` SST-2 dev examples (default 200) × 5 generators (typos, synonyms,
   drop_word, scramble, case_and_whitespace; one edit per example each) with the zero-shot prompt
   ``"Review: {text}\\nSentiment:"`` and the options ``" negative"`` / ``" positive"`` (raw text,
   no chat template). Prints the wall time, the number of prompts scored, prompts per second,
   accuracy and the flip rate of each generator.
2. **Batched vs one at a time**: the same ``--compare`` prompts scored against both options by
   :func:`pellucid.counterfactual.batch_score.score_options` (length-sorted batches, one pass for
   every option) and by the obvious loop (``LM.score(prompt, option)`` per prompt and option).
   Prints both wall times, their ratio, and the largest difference between the two (must be
   ≤ 1e-4).

Timings on a shared 2-core machine move 30–50 % between runs; only ratios from one run mean
anything; the load average at start and end is printed so a slow run can be recognised.

    python benchmarks/bench_robustness.py [--limit 200] [--compare 100] [--data ../shared/data/sst2/dev.tsv]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from pellucid.counterfactual.batch_score import score_options
from pellucid.counterfactual.dataset import load_dataset
from pellucid.counterfactual.robustness import RobustnessConfig, run_robustness
from pellucid.models import LM
from pellucid.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "Review: {text}\nSentiment:"
OPTIONS = [" negative", " positive"]
GENERATORS = ["typos", "synonyms", "drop_word", "scramble", "case_and_whitespace"]
PARAMS = {
    "typos": {"n": 1},
    "synonyms": {"n": 1},
    "drop_word": {"n": 1},
    "scramble": {"n": 1},
    "case_and_whitespace": {"variants": "upper"},
}


def bench_run(lm: LM, data: Path, limit: int) -> dict[str, object]:
    ds = load_dataset(data, text_column="content", limit=limit)
    config = RobustnessConfig(GENERATORS, options=OPTIONS, template=TEMPLATE, chat=False, params=PARAMS)
    started = time.perf_counter()
    report = run_robustness(lm, ds.examples, config)
    seconds = time.perf_counter() - started
    prompts = int(report.meta["unique_prompts"])
    return {
        "examples": report.n_examples,
        "generators": len(GENERATORS),
        "edits": report.meta["edits"],
        "unique_prompts": prompts,
        "seconds": round(seconds, 2),
        "prompts_per_second": round(prompts / seconds, 1),
        "accuracy": report.accuracy_before,
        "flip_rate": {g: round(s["flip_rate"], 4) for g, s in report.generators.items()},
    }


def bench_batched(lm: LM, data: Path, n: int) -> dict[str, object]:
    ds = load_dataset(data, text_column="content", limit=n)
    prompts = [TEMPLATE.replace("{text}", e.text) for e in ds.examples]
    ids = [lm.encode(p, chat=False).ids for p in prompts]
    opt_ids = [lm.encode_target(o) for o in OPTIONS]
    score_options(lm, ids[:4], opt_ids)  # warm-up
    started = time.perf_counter()
    batched = score_options(lm, ids, opt_ids)
    t_batched = time.perf_counter() - started
    started = time.perf_counter()
    single = np.array([[lm.score(p, o, chat=False).total for o in OPTIONS] for p in prompts])
    t_single = time.perf_counter() - started
    return {
        "prompts": len(prompts),
        "options": len(OPTIONS),
        "batched_seconds": round(t_batched, 3),
        "one_at_a_time_seconds": round(t_single, 3),
        "speedup": round(t_single / t_batched, 2),
        "max_abs_difference": float(np.abs(batched - single).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--compare", type=int, default=100)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lm = LM.load(args.model, Settings.from_env())
    load_before = os.getloadavg()[0]
    out: dict[str, object] = {"model": lm.name, "batched_vs_single": bench_batched(lm, args.data, args.compare)}
    print(json.dumps(out["batched_vs_single"]), flush=True)
    out["run"] = bench_run(lm, args.data, args.limit)
    out["load_average"] = {"start": load_before, "end": os.getloadavg()[0], "cores": os.cpu_count()}
    print(json.dumps(out, indent=1))
    b, r = out["batched_vs_single"], out["run"]
    assert isinstance(b, dict) and isinstance(r, dict)
    print(
        f"\nbatched scoring: {b['batched_seconds']} s vs one at a time {b['one_at_a_time_seconds']} s "
        f"-> {b['speedup']}x (max |diff| {b['max_abs_difference']:.1e})"
    )
    print(
        f"robustness: {r['examples']} examples x {r['generators']} generators = {r['unique_prompts']} prompts "
        f"in {r['seconds']} s ({r['prompts_per_second']} prompts/s), accuracy {r['accuracy']:.3f}"
    )
    print(f"load average {out['load_average']} (other work on the machine slows every figure alike)")


if __name__ == "__main__":
    main()
