"""Batch occlusion on SST-2 dev: the local backend against Ray with 1 and 2 actors, in one run.

The job is ``pellucid explain --dataset sst2/dev.tsv --method occlusion`` on SmolLM2 (the
sentiment template, each sentence's label word as the target), through :func:`pellucid.batch.run_job`.
Configurations, each timed end to end (model loads in the workers included; ``ray.init`` is
done once before and reported apart):

- ``local 1 thread``   this process, one torch thread;
- ``ray 1x1``          one actor with one CPU (one torch thread) — the same work on the same
                       resources as ``local 1 thread``: ``ray / local − 1`` is the Ray backend's
                       overhead (scheduling, moving blocks and rows, the actor's start and model
                       load; target ≤ 15 %);
- ``ray 2x1``          two actors with one CPU each: the throughput against ``ray 1x1`` is the
                       scaling from 1 to 2 actors (ideal 2× for compute-bound work on 2 cores);
- ``local N threads``  this process with every CPU as torch threads, for reference: on a
                       2-core machine two one-thread actors beat one two-thread process.

Every configuration must write the same rows: the script checks the scores agree (1e-4) and
prints the table with the ratios.

    python benchmarks/bench_ray.py [--limit 64] [--block-size 8] [--cpus 2]

Timings on these shared 2-core machines move 30–50 % between runs; only the ratios of one run count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.data import find_data_dir  # noqa: E402

from pellucid.attribution.faithfulness import load_prompts  # noqa: E402
from pellucid.batch import ExplainTask, RayOptions, read_results, run_job  # noqa: E402
from pellucid.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=64, help="SST-2 dev sentences (872 in all).")
    parser.add_argument("--block-size", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    data = load_prompts(find_data_dir() / "sst2" / "dev.tsv", limit=args.limit)
    items = [{"row": i, "prompt": p, "target": t} for i, (p, t) in enumerate(zip(data.prompts, data.targets))]
    settings = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_TMPDIR", str(tmp / "ray"))

    def job(name: str, backend: str, ray: RayOptions | None = None, threads: int | None = None) -> float:
        task = ExplainTask(settings=settings, method="occlusion", threads=threads)
        started = time.perf_counter()
        run_job(task, items, out=tmp / f"{name}.parquet", backend=backend, block_size=args.block_size, ray=ray)
        return time.perf_counter() - started

    times: dict[str, float] = {}
    times["local 1 thread"] = job("local-1", "local", threads=1)
    times[f"local {args.cpus} threads"] = job("local", "local", threads=args.cpus)
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_init = time.perf_counter() - started
    times["ray 1x1"] = job("ray-1x1", "ray", RayOptions(actors=1, cpus_per_actor=1))
    times["ray 2x1"] = job("ray-2x1", "ray", RayOptions(actors=2, cpus_per_actor=1))
    ray.shutdown()

    reference = read_results(tmp / "local.parquet")
    for name in ("local-1", "ray-1x1", "ray-2x1"):
        for a, b in zip(reference, read_results(tmp / f"{name}.parquet"), strict=True):
            np.testing.assert_allclose(np.array(a["scores"], float), np.array(b["scores"], float), atol=1e-4)

    n = len(items)
    print(f"\nSST-2 dev, occlusion on SmolLM2, {n} sentences, blocks of {args.block_size}, {args.cpus} CPUs")
    print(f"ray.init: {ray_init:.1f} s (once per process, not in the times below)\n")
    print(f"{'configuration':<14} {'seconds':>8} {'sentences/s':>12}")
    for name, seconds in times.items():
        print(f"{name:<14} {seconds:>8.1f} {n / seconds:>12.2f}")
    overhead = times["ray 1x1"] / times["local 1 thread"] - 1
    scaling = times["ray 1x1"] / times["ray 2x1"]
    print(f"\nRay overhead vs local, one worker with one CPU each: {100 * overhead:+.1f} % (target ≤ 15 %)")
    print(f"Scaling 1 → 2 actors: {scaling:.2f}x (ideal 2x)")
    print("rows identical across configurations (scores within 1e-4)")


if __name__ == "__main__":
    main()
