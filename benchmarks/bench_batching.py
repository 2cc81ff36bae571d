"""Continuous batching through the real HTTP server: aggregate tokens/s at 16 clients vs 1, and time to first token.

``pellucid serve`` runs the bundled SmolLM2 in a subprocess on a free loopback port (logging to a
fresh SQLite file, no background workers). Each client sends streamed greedy chat completions
(``max_tokens`` 48 by default, a different prompt per call) and reads the server-sent events, timing
the first content chunk; the usage chunk gives the tokens generated. Phase 1: one client, ``--rounds``
calls one after the other. Phase 2: ``--clients`` clients at once, ``--rounds`` calls each. The
figure of merit is the ratio of aggregate generated tokens/s between the two phases (target ≥ 5×
at 16 clients), with p50/p95 time to first token at 16 clients (target p95 ≤ 2 s). ``--batching off``
measures the thread-per-request path for comparison. Every loop is bounded by its call count and
each call by a timeout, so the run stops by itself. Timings on a shared 2-core machine move 30–50 %
between runs; the load average is printed at start and end.

    python benchmarks/bench_batching.py [--clients 16] [--rounds 2] [--max-tokens 48] [--batching on|off]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.loopback import free_port  # noqa: E402

TOPICS = ["the sea", "a mountain", "a city at night", "a library", "the desert", "a forest", "a train", "the moon"]


Process = subprocess.Popen[bytes]


def start_server(home: Path, db: Path, model: str, batching: str, max_batch: int) -> tuple[Process, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PELLUCID_HOME"] = str(home)
    env.pop("PELLUCID_API_TOKEN", None)
    cmd = [
        sys.executable, "-c", "from pellucid.cli.main import main; main()", "serve", "--model", model,
        "--database-url", f"sqlite:///{db}", "--port", str(port), "--no-background",
        "--batching", batching, "--max-batch", str(max_batch),
    ]  # fmt: skip
    log = (db.parent / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(db.parent / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("the server did not start within 300 s")


def one_call(url: str, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """One streamed greedy chat completion: seconds to the first content chunk, tokens, total seconds."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as res:
        res.raise_for_status()
        for line in res.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                tokens = data["usage"]["completion_tokens"]
            elif first is None and data["choices"] and data["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - start
    ttft = first if first is not None else float("nan")
    return {"ttft": ttft, "tokens": tokens, "seconds": time.perf_counter() - start}


def phase(url: str, model: str, clients: int, rounds: int, max_tokens: int) -> dict[str, Any]:
    """``clients`` concurrent clients, ``rounds`` calls each: aggregate tokens/s and TTFT percentiles."""
    prompts = [
        f"Write a long, detailed story about {TOPICS[(c + r) % len(TOPICS)]} (client {c}, call {r})."
        for c in range(clients)
        for r in range(rounds)
    ]

    def client(c: int) -> list[dict[str, Any]]:
        return [one_call(url, model, prompts[c * rounds + r], max_tokens) for r in range(rounds)]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        calls = [call for result in pool.map(client, range(clients)) for call in result]
    wall = time.perf_counter() - start
    ttft = sorted(c["ttft"] for c in calls)
    tokens = sum(c["tokens"] for c in calls)
    return {
        "clients": clients,
        "calls": len(calls),
        "tokens": tokens,
        "seconds": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2),
        "ttft_p50_s": round(ttft[len(ttft) // 2], 3),
        "ttft_p95_s": round(ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="calls per client in each phase")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batching", choices=["on", "off"], default="on")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--home", default=os.environ.get("PELLUCID_HOME", str(Path.home() / ".pellucid")))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(args.home), Path(tmp) / "bench.db", args.model, args.batching, args.clients)
        try:
            one_call(url, args.model, "Warm up.", 4)
            single = phase(url, args.model, 1, args.rounds, args.max_tokens)
            many = phase(url, args.model, args.clients, args.rounds, args.max_tokens)
            serving = httpx.get(f"{url}/api/serving", timeout=10).json()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    figures = {
        "batching": args.batching,
        "max_tokens": args.max_tokens,
        "one_client": single,
        "many_clients": many,
        "speedup": round(many["tokens_per_s"] / single["tokens_per_s"], 2),
        "server": serving["models"],
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
