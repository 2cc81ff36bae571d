"""Load on a real server: 50 concurrent clients for 10 s against the gateway on loopback.

Properties (no timing assertions; figures are printed and go to docs/reliability.md via
``benchmarks/bench_load.py``): every acknowledged call is stored exactly once after a clean
shutdown, and nothing is stored that was not asked for.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.hardening.harness import Server, run_load, stored


@pytest.mark.slow
def test_fifty_clients_lose_and_duplicate_nothing(tiny_dir, tmp_path):
    db = tmp_path / "load.db"
    with Server(tiny_dir, f"sqlite:///{db}", tmp_path / "home") as server:
        result = run_load(server.url, clients=50, seconds=10)
    assert server.proc.returncode in (0, -15)  # SIGTERM: graceful shutdown, then uvicorn re-raises the signal
    print(f"\nload: {result.summary()}")
    ids, prompts = stored(f"sqlite:///{db}")
    assert len(result.acked) > 50
    assert result.statuses.get("200", 0) == len(result.acked)
    assert set(result.acked) <= set(ids)  # zero lost
    assert len(ids) == len(set(ids))  # zero duplicated ids
    per_prompt = Counter(prompts[i] for i in ids)
    assert max(per_prompt.values()) == 1  # each call logged once
    assert {prompts[i] for i in result.acked} == {result.prompts[i] for i in result.acked}
