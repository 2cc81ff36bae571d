"""A real ``pellucid serve`` in a subprocess, and a bounded load generator against its gateway.

Shared by ``tests/hardening`` (short runs) and ``benchmarks/bench_load.py`` /
``benchmarks/bench_faults.py`` (long runs that print figures). Everything stops by itself:
the load loop ends at its deadline, and :class:`Server` is a context manager that stops the
process (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.loopback import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[2]


class Server:
    """``pellucid serve --model <folder>`` on a loopback port, logging to ``db_url``."""

    def __init__(
        self, model_dir: Path, db_url: str, home: Path, *, threads: int = 1, durable: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        env = {
            **os.environ,
            "PELLUCID_HOME": str(home),
            "PELLUCID_THREADS": str(threads),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.pop("PELLUCID_API_TOKEN", None)
        cmd = [
            sys.executable, "-c", "from pellucid.cli.main import main; main()",
            "serve", "--model", str(model_dir), "--database-url", db_url,
            "--port", str(self.port), "--no-background",
            "--durable" if durable else "--no-durable", *extra_args,
        ]  # fmt: skip
        self.log_path = home / "server.log"
        home.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        wait_healthy(f"{self.url}/api/health", self.proc, self.log_path, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (clean shutdown: the writer flushes), SIGKILL if it does not end in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return int(self.proc.returncode)

    def __enter__(self) -> Server:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LoadResult:
    """What the clients saw: acknowledged record ids (with when), statuses, latencies."""

    started: float
    acked: dict[str, float] = field(default_factory=dict)  # record id -> monotonic time of the answer
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    prompts: dict[str, str] = field(default_factory=dict)  # record id -> the prompt sent
    elapsed: float = 0.0

    def count(self, key: str) -> None:
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict[str, Any]:
        n = len(self.acked)
        return {
            "acknowledged": n,
            "statuses": dict(sorted(self.statuses.items())),
            "elapsed_s": round(self.elapsed, 1),
            "throughput_rps": round(n / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(self.percentile(50), 1),
            "p95_ms": round(self.percentile(95), 1),
            "p99_ms": round(self.percentile(99), 1),
        }


async def _client(i: int, base: str, deadline: float, result: LoadResult, max_tokens: int) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            prompt = f"client {i} call {n}: say something"
            body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0}
            t0 = time.monotonic()
            try:
                res = await client.post("/v1/chat/completions", json=body, headers={"X-Pellucid-User": f"c{i}"})
            except httpx.HTTPError as exc:  # the server died (fault runs) or is overloaded
                result.count(type(exc).__name__)
                await asyncio.sleep(0.05)
                continue
            result.count(str(res.status_code))
            if res.status_code == 200:
                rid = norm_id(res.headers["X-Pellucid-Record-Id"])
                result.acked[rid] = time.monotonic()
                result.prompts[rid] = prompt
                result.latencies_ms.append((time.monotonic() - t0) * 1000)
            elif res.status_code == 429:
                await asyncio.sleep(float(res.headers.get("Retry-After", "1")))


def run_load(base: str, *, clients: int, seconds: float, max_tokens: int = 2) -> LoadResult:
    """``clients`` concurrent clients calling ``/v1/chat/completions`` for ``seconds``, then stop."""
    result = LoadResult(started=time.monotonic())

    async def main() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_client(i, base, deadline, result, max_tokens) for i in range(clients)))

    asyncio.run(main())
    result.elapsed = time.monotonic() - result.started
    return result


def stored(db_url: str) -> tuple[list[str], dict[str, str]]:
    """Every stored record id (duplicates kept, to count them) and each id's prompt text."""
    from sqlalchemy import create_engine, text

    from pellucid.monitor.store import normalize_url

    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, prompt_text FROM records")).all()
    finally:
        engine.dispose()
    return [norm_id(str(r[0])) for r in rows], {norm_id(str(r[0])): r[1] for r in rows}


def norm_id(record_id: str) -> str:
    """A record id as 32 lowercase hex digits (SQLite stores UUIDs without dashes)."""
    return record_id.replace("-", "").lower()


def sqlite_integrity(path: Path) -> str:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def make_tiny(folder: Path) -> Path:
    """The tests' tiny random Llama (seconds to build)."""
    sys.path.insert(0, str(REPO))
    from tests.support.tiny import save_tiny

    return save_tiny(folder, "llama")
