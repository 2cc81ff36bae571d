"""OTLP ingest rate: LLM spans per second from ``POST /v1/traces`` into SQLite, through a real server.

``pellucid serve`` runs in a subprocess logging to a fresh SQLite file. ``--senders`` concurrent
exporters post OTLP batches of ``--batch`` LLM spans — protobuf by default, the encoding
OpenTelemetry SDK exporters send (``--encoding json`` for OTLP/JSON, whose decoding is pure
Python and several times slower) — (OpenInference attributes: model,
prompt, answer, token counts), each span with its own trace and span id, for ``--seconds``.
The rate counts spans *stored*: the clock stops when the records table holds every
acknowledged span (polled), so batching in the writer is included, not hidden.

As in ``bench_proxy.py``, on a machine with two or more CPUs the server is pinned to one half of
them and the senders to the other (``--no-pin`` to leave them to the scheduler), and the server's
CPU time per stored span (user + system of the whole process, writer thread included) is printed
beside the rate: the rate depends on what else the machine runs, the CPU per span much less.

In the same process, the script also times the receiver's stages without HTTP — decoding and
mapping a batch (``parse_request`` → ``spans_of`` → ``map_spans`` → ``make_record``) and the
writer's inserts — to show where the time goes. Target (issue 17): ≥ 5,000 spans/s.

    python benchmarks/bench_otlp.py [--senders 8] [--batch 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_proxy import cpu_seconds, pinned, placement  # noqa: E402
from tests.hardening.harness import Server, make_tiny  # noqa: E402


def _span(trace: str, span: str, n: int) -> dict[str, Any]:
    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "input.value": f"question {n}?",
             "output.value": f"The answer to question {n}.", "session.id": f"s{n % 97}"}  # fmt: skip
    return {
        "traceId": trace, "spanId": span, "name": "llm", "kind": 3,
        "startTimeUnixNano": "1764900000000000000", "endTimeUnixNano": "1764900000250000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]
        + [{"key": "llm.token_count.prompt", "value": {"intValue": "12"}}],
    }  # fmt: skip


def batch(sender: int, n: int, size: int, encoding: str = "json") -> bytes:
    """One export request of ``size`` LLM spans with ids unique to (sender, n), in ``encoding``."""
    spans = [_span(f"{sender + 1:016x}{n + 1:016x}", f"{k + 1:016x}", n) for k in range(size)]  # ids may not be 0
    tree = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}
    if encoding == "json":
        return json.dumps(tree).encode()
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for span in spans:  # protobuf's JSON mapping writes bytes as base64, OTLP/JSON as hex
        span["traceId"] = base64.b64encode(bytes.fromhex(str(span["traceId"]))).decode()
        span["spanId"] = base64.b64encode(bytes.fromhex(str(span["spanId"]))).decode()
    return json_format.ParseDict(tree, ExportTraceServiceRequest()).SerializeToString()


CONTENT_TYPES = {"json": "application/json", "protobuf": "application/x-protobuf"}


async def _sender(base: str, deadline: float, bodies: list[bytes], kind: str, size: int, acked: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        for body in bodies:
            if time.monotonic() >= deadline:
                break
            res = await client.post("/v1/traces", content=body, headers={"Content-Type": kind})
            if res.status_code == 200:
                acked.append(size)
            elif res.status_code == 429:
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"/v1/traces answered {res.status_code}: {res.text[:200]}")


def _count(db: str) -> int:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM records")).scalar_one())
    finally:
        engine.dispose()


def through_http(senders: int, size: int, seconds: float, encoding: str, pin: bool = True) -> dict[str, Any]:
    # built before the clock starts, so the senders' own encoding does not count
    bodies = [[batch(i, n, size, encoding) for n in range(int(seconds * 20))] for i in range(senders)]
    kind = CONTENT_TYPES[encoding]
    server_cpus, sender_cpus = placement(pin)
    with tempfile.TemporaryDirectory() as tmp, pinned(sender_cpus):
        root = Path(tmp)
        db = f"sqlite:///{root / 'otlp.db'}"
        with pinned(server_cpus):
            server = Server(make_tiny(root / "tiny"), db, root / "home")
        with server:
            acked: list[int] = []

            async def main() -> None:
                deadline = time.monotonic() + seconds
                await asyncio.gather(*(_sender(server.url, deadline, b, kind, size, acked) for b in bodies))

            cpu = cpu_seconds(server.proc.pid)
            started = time.monotonic()
            asyncio.run(main())
            while _count(db) < sum(acked) and time.monotonic() - started < seconds + 60:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(server.proc.pid) - cpu
            stored = _count(db)
    where = "not pinned"
    if server_cpus and sender_cpus:
        where = f"server on CPUs {sorted(server_cpus)}, senders on {sorted(sender_cpus)}"
    return {"encoding": encoding, "senders": senders, "batch": size, "spans_stored": stored,
            "seconds": round(elapsed, 2), "spans_per_s": round(stored / elapsed),
            "server_cpu_us_per_span": round(cpu * 1e6 / max(stored, 1), 1), "placement": where}  # fmt: skip


def stages(size: int, batches: int, encoding: str) -> dict[str, Any]:
    """Decode+map and insert rates in this process (no HTTP, no server)."""
    from pellucid.monitor import Store
    from pellucid.monitor.sdk import make_record
    from pellucid.monitor.writer import BatchWriter
    from pellucid.serve.otlp_decode import parse_request, spans_of
    from pellucid.serve.otlp_map import RecentContext, map_spans

    bodies = [batch(0, n, size, encoding) for n in range(batches)]
    recent = RecentContext()
    started = time.perf_counter()
    records = []
    for body in bodies:
        spans, _ = spans_of(parse_request(body, CONTENT_TYPES[encoding], None))
        fields, _ = map_spans(spans, recent)
        for item in fields:
            prompt, response = item.pop("prompt"), item.pop("response")
            records.append(make_record(prompt, response, **item))
    decode = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/stages.db")
        writer = BatchWriter(store.repo)
        started = time.perf_counter()
        for record in records:
            writer.put(record)
        writer.close()
        write = time.perf_counter() - started
        store.close()
    n = len(records)
    return {"spans": n, "decode_map_spans_per_s": round(n / decode), "write_spans_per_s": round(n / write)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--encoding", choices=sorted(CONTENT_TYPES), default="protobuf")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True, help="pin server and senders")
    args = parser.parse_args()
    print(f"load average at start: {open('/proc/loadavg').read().strip()}")
    for encoding in sorted(CONTENT_TYPES):
        print(json.dumps({"stages": {"encoding": encoding, **stages(args.batch, 50, encoding)}}))
    row = through_http(args.senders, args.batch, args.seconds, args.encoding, args.pin)
    print(json.dumps({"http": row, "target_met": row["spans_per_s"] >= 5000}))
    print(f"load average at end: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
