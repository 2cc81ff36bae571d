"""Proxy mode and the OTLP receiver under load, against real server processes on loopback.

- 50 clients (half streaming) call ``pellucid serve --upstream fast=URL`` whose upstream is
  ``tests/support/fast_upstream.py`` in its own process; after a clean shutdown (SIGTERM) every
  acknowledged call is stored exactly once, and nothing else.
- 50 senders post OTLP/JSON batches of LLM spans to ``/v1/traces``; after a clean shutdown every
  span of every acknowledged batch is one record, and no span is stored twice.

No timing assertions: the figures are printed (``benchmarks/bench_proxy.py`` and
``benchmarks/bench_otlp.py`` measure speed).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from pellucid.monitor.store import normalize_url
from tests.hardening.harness import Server, norm_id, stored
from tests.support.fast_upstream import fast_upstream_process

CLIENTS = 50
SECONDS = 8.0


async def _proxy_client(i: int, base: str, deadline: float, acked: dict[str, str], statuses: Counter[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            prompt = f"client {i} call {n}"
            body = {"model": "fast", "messages": [{"role": "user", "content": prompt}], "stream": i % 2 == 1}
            try:
                async with client.stream("POST", "/v1/chat/completions", json=body) as res:
                    content = await res.aread()
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(res.status_code)] += 1
            complete = not body["stream"] or content.rstrip().endswith(b"data: [DONE]")
            if res.status_code == 200 and complete:
                acked[norm_id(res.headers["X-Pellucid-Record-Id"])] = prompt


@pytest.mark.slow
def test_fifty_proxy_clients_store_each_acknowledged_call_once(tiny_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'proxy.db'}"
    acked: dict[str, str] = {}
    statuses: Counter[str] = Counter()
    with fast_upstream_process(chunks=4) as upstream:
        with Server(tiny_dir, db, tmp_path / "home", extra_args=["--upstream", f"fast={upstream}"]) as server:

            async def main() -> None:
                deadline = time.monotonic() + SECONDS
                await asyncio.gather(*(_proxy_client(i, server.url, deadline, acked, statuses) for i in range(CLIENTS)))

            asyncio.run(main())
    assert server.proc.returncode in (0, -15)
    print(f"\nproxy load: {len(acked)} acknowledged, statuses {dict(statuses)}")
    ids, prompts = stored(db)
    assert len(acked) > CLIENTS and statuses["200"] == len(acked)
    assert set(acked) == set(ids)  # nothing lost, nothing stored that was not acknowledged
    assert len(ids) == len(set(ids))  # no id twice
    assert all(prompts[i] == acked[i] for i in ids)  # each record is its own call


def _span(trace: str, span: str, n: int) -> dict[str, object]:
    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "m", "input.value": f"question {n}",
             "output.value": f"answer {n}"}  # fmt: skip
    return {
        "traceId": trace, "spanId": span, "name": "llm", "kind": 3,
        "startTimeUnixNano": "1764900000000000000", "endTimeUnixNano": "1764900000250000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }  # fmt: skip


async def _otlp_sender(i: int, base: str, deadline: float, acked: set[str], statuses: Counter[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            trace = f"{i:016x}{n:016x}"
            spans = [_span(trace, f"{n:08x}{k:08x}", n) for k in range(5)]
            body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
            try:
                res = await client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[str(res.status_code)] += 1
            if res.status_code == 200:
                acked.update(f"{trace}:{s['spanId']}" for s in spans)
            elif res.status_code == 429:
                await asyncio.sleep(0.2)


def _stored_spans(db: str) -> list[str]:
    engine = create_engine(normalize_url(db))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT trace_id, span_id FROM records")).all()
    finally:
        engine.dispose()
    return [f"{r[0]}:{r[1]}" for r in rows]


@pytest.mark.slow
def test_fifty_otlp_senders_store_each_acknowledged_span_once(tiny_dir, tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'otlp.db'}"
    acked: set[str] = set()
    statuses: Counter[str] = Counter()
    with Server(tiny_dir, db, tmp_path / "home") as server:

        async def main() -> None:
            deadline = time.monotonic() + SECONDS
            await asyncio.gather(*(_otlp_sender(i, server.url, deadline, acked, statuses) for i in range(CLIENTS)))

        asyncio.run(main())
    assert server.proc.returncode in (0, -15)
    print(f"\nOTLP load: {len(acked)} spans acknowledged, statuses {dict(statuses)}")
    spans = _stored_spans(db)
    assert len(acked) > CLIENTS * 5 and not (set(statuses) - {"200", "429"})
    assert set(spans) == acked and len(spans) == len(set(spans))
