"""Proxy overhead: added latency and added time to first token of ``pellucid serve --upstream`` vs the upstream.

The upstream is ``tests/support/fast_upstream.py`` in its own process — an OpenAI-compatible
server that streams ``--chunks`` chunks at once, with no model — so the model is not the
bottleneck and what differs between the two paths is Pellucid alone (parsing, forwarding,
relaying chunks, queuing the record). Pellucid runs as a real ``pellucid serve`` process
logging to a fresh SQLite file. For each concurrency level, ``--rounds`` rounds alternate a
direct run and a proxied run (so a drift of the machine's load hits both): every client sends
``--calls`` streaming chat completions one after the other. Per call the client measures TTFT
(first chunk carrying text) and latency (the ``[DONE]`` line); the figures are the p50s, and
the added values are proxied p50 minus direct p50.

Targets (issue 17): added p50 latency ≤ 2 ms and added TTFT ≤ 5 ms, at 1 and 50 clients.
On a shared 2-core machine the 50 clients, both servers and the recorder compete for the
cores, so the 50-client figures include queueing that a larger machine would not have.

    python benchmarks/bench_proxy.py [--clients 1,50] [--calls 200] [--rounds 3] [--chunks 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hardening.harness import Server, make_tiny  # noqa: E402
from tests.support.fast_upstream import fast_upstream_process  # noqa: E402

BODY = {"model": "fast", "messages": [{"role": "user", "content": "Say something"}], "stream": True}


async def _one_client(base: str, calls: int, ttft: list[float], total: list[float]) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        for _ in range(calls):
            t0 = time.perf_counter()
            first = None
            seen = b""
            async with client.stream("POST", "/chat/completions", json=BODY) as res:
                if res.status_code != 200:
                    raise RuntimeError(f"{base} answered {res.status_code}: {(await res.aread())[:200]!r}")
                async for chunk in res.aiter_raw():
                    seen += chunk
                    if first is None and b'" w0"' in seen:
                        first = time.perf_counter()
            end = time.perf_counter()
            if not seen.rstrip().endswith(b"data: [DONE]"):
                raise RuntimeError(f"{base}: a stream ended without [DONE]")
            ttft.append(((first or end) - t0) * 1000)
            total.append((end - t0) * 1000)


def run(base: str, clients: int, calls: int) -> tuple[list[float], list[float]]:
    """``clients`` concurrent clients, ``calls`` streaming calls each: (TTFT ms, latency ms) per call."""
    ttft: list[float] = []
    total: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_one_client(base, calls, ttft, total) for _ in range(clients)))

    asyncio.run(main())
    return ttft, total


def measure(direct: str, proxied: str, clients: int, calls: int, rounds: int) -> dict[str, float]:
    per_client = max(1, calls // clients)
    run(direct, clients, 2)  # warm up connections on both sides
    run(proxied, clients, 2)
    figures: dict[str, list[float]] = {"direct_ttft": [], "direct_total": [], "proxy_ttft": [], "proxy_total": []}
    for _ in range(rounds):
        for name, base in (("direct", direct), ("proxy", proxied)):
            ttft, total = run(base, clients, per_client)
            figures[f"{name}_ttft"] += ttft
            figures[f"{name}_total"] += total
    p50 = {k: statistics.median(v) for k, v in figures.items()}
    return {
        "clients": clients,
        "calls_per_side": len(figures["proxy_total"]),
        "direct_p50_ms": round(p50["direct_total"], 2),
        "proxy_p50_ms": round(p50["proxy_total"], 2),
        "added_p50_ms": round(p50["proxy_total"] - p50["direct_total"], 2),
        "direct_ttft_p50_ms": round(p50["direct_ttft"], 2),
        "proxy_ttft_p50_ms": round(p50["proxy_ttft"], 2),
        "added_ttft_p50_ms": round(p50["proxy_ttft"] - p50["direct_ttft"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,50", help="comma-separated concurrency levels")
    parser.add_argument("--calls", type=int, default=200, help="calls per side and round, split over the clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=8, help="text chunks per streamed answer")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, fast_upstream_process(chunks=args.chunks) as upstream:
        root = Path(tmp)
        model = make_tiny(root / "tiny")  # --model is required by the harness; proxy mode does not load it
        db = f"sqlite:///{root / 'proxy.db'}"
        with Server(model, db, root / "home", extra_args=["--upstream", f"fast={upstream}"]) as server:
            rows = [
                measure(upstream, f"{server.url}/v1", int(c), args.calls, args.rounds) for c in args.clients.split(",")
            ]
    for row in rows:
        met = row["added_p50_ms"] <= 2.0 and row["added_ttft_p50_ms"] <= 5.0
        print(json.dumps({**row, "targets_met": met}))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
