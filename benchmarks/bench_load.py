"""Load on the logging gateway: N concurrent clients for S seconds against a real ``pellucid serve``.

A tiny random Llama (the tests' model, built in a temporary folder in seconds) is served by
``pellucid serve`` in a subprocess on a free loopback port, logging to a fresh SQLite file (or
``--database-url``). Each client loops ``POST /v1/chat/completions`` (``max_tokens`` small,
temperature 0, a unique prompt per call) until the deadline, so the run stops by itself. Then
the server is stopped cleanly (SIGTERM: the writer flushes) and the store is compared with what
the clients were acknowledged.

Prints: calls acknowledged, statuses, throughput, latency p50/p95/p99, records stored, records
lost (acknowledged, not stored), duplicated ids, prompts logged more than once. Timings on a
shared 2-core machine move 30–50 % between runs; the load average is printed at start and end.

    python benchmarks/bench_load.py [--clients 50] [--seconds 60] [--max-tokens 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hardening.harness import Server, make_tiny, run_load, stored  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-tokens", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = make_tiny(root / "tiny")
        url = args.database_url or f"sqlite:///{root / 'load.db'}"
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        with Server(model, url, root / "home") as server:
            result = run_load(server.url, clients=args.clients, seconds=args.seconds, max_tokens=args.max_tokens)
        ids, prompts = stored(url)
        lost = set(result.acked) - set(ids)
        repeated = sum(1 for n in Counter(prompts[i] for i in ids).values() if n > 1)
        figures = {
            "clients": args.clients,
            "seconds": args.seconds,
            **result.summary(),
            "stored": len(ids),
            "lost": len(lost),
            "duplicated_ids": len(ids) - len(set(ids)),
            "prompts_logged_twice": repeated,
            "load_average_end": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
