"""Drift report speed: 10,000 × 384 reference vs 10,000 × 384 current embeddings.

Builds unit-length random vectors shaped like MiniLM sentence embeddings, plants a shift in a
few dimensions of the current window, adds two scalar metrics (latency, prompt length), and
times ``drift_report`` end to end: MMD² with a 500-shuffle permutation test, the domain
classifier, and PSI + KS per scalar. One untimed warm-up run loads scipy / scikit-learn and
starts the BLAS threads; the figure is the median of ``--repeats`` timed runs. Target: ≤ 2 s.

    python benchmarks/bench_drift.py
    python benchmarks/bench_drift.py --n 20000 --repeats 5

The last line printed is a Markdown table row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import date

import numpy as np

from pellucid.monitor.drift import drift_report


def windows(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Reference and current embeddings (unit length, a shift in 5 dimensions) and two scalars."""
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((n, dim))
    current = rng.standard_normal((n, dim))
    current[:, :5] += 0.3
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    current /= np.linalg.norm(current, axis=1, keepdims=True)
    scalars = {
        "latency_ms": (rng.gamma(2.0, 150.0, n), rng.gamma(2.0, 180.0, n)),
        "prompt_tokens": (rng.poisson(60, n).astype(float), rng.poisson(60, n).astype(float)),
    }
    return reference, current, scalars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="vectors per window")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reference, current, scalars = windows(args.n, args.dim)
    drift_report(reference[:500], current[:500], scalars=scalars)  # warm-up: imports, BLAS threads
    times, report = [], None
    for _ in range(args.repeats):
        started = time.perf_counter()
        report = drift_report(reference, current, scalars=scalars, name="prompt embeddings")
        times.append(time.perf_counter() - started)
    assert report is not None
    for result in report.results:
        print(f"{result.detector:>10}  {result.feature:<18} {result.verdict}")
    seconds = statistics.median(times)
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"drift report, {args.n:,} vs {args.n:,} x {args.dim}: {seconds:.2f} s (runs: {runs})")
    status = "ok" if seconds <= 2.0 else "over target"
    print(
        f"| drift report (MMD + classifier + PSI/KS x 2) | {args.n:,} vs {args.n:,} x {args.dim} embeddings | "
        f"{seconds:.2f} s (target <= 2 s, {status}) | {date.today().isoformat()}, {platform.machine()}, "
        f"Python {platform.python_version()} |"
    )


if __name__ == "__main__":
    main()
