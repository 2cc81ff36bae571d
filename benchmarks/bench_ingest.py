"""Ingest throughput: records/s through the SDK's batched writer into SQLite (WAL).

Measures what a gateway sees: ``Monitor.log`` calls from one or more threads, queued and
written in batches by the background writer, with data-quality flags computed (the default),
until ``flush()`` confirms every record is committed. Enrichment (embeddings, perplexity) is
not part of ingest and is not measured here. Target: >= 5,000 records/s.

    python benchmarks/bench_ingest.py                      # 50,000 records, 1 thread
    python benchmarks/bench_ingest.py --threads 8 --records 100000
    python benchmarks/bench_ingest.py --url postgresql+psycopg://postgres@127.0.0.1:55432/pellucid_test

(``--url`` writes into that database and leaves the records there: use a throwaway one.)

The last line printed is a Markdown table row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from pellucid.monitor import Monitor, QualityConfig

SYSTEM = "You are a helpful assistant for a medical-insurance company. Answer briefly and politely."


def _call(i: int) -> tuple[list[dict[str, str]], str, dict[str, object]]:
    prompt = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Does my plan {i % 37} cover physiotherapy after knee surgery in 2026? Case {i}."},
    ]
    response = (
        "Yes. Plans of that family cover up to 20 physiotherapy sessions after surgery per year, "
        f"with a referral from your surgeon. Reference {i}: send the referral with your claim."
    )
    fields: dict[str, object] = {
        "model": "smollm2-135m-instruct",
        "model_version": "2026-11",
        "template_version": "support-v3",
        "latency_ms": 350.0 + i % 100,
        "ttft_ms": 40.0 + i % 10,
        "prompt_tokens": 61,
        "completion_tokens": 38,
        "params": {"temperature": 0.2, "top_p": 0.95, "max_tokens": 128},
        "user_id": f"user-{i % 997}",
        "session_id": f"session-{i % 4001}",
        "tags": ["prod", "eu"],
        "channel": "web",
    }
    return prompt, response, fields


def run(url: str, records: int, threads: int, batch_size: int, quality: bool) -> tuple[float, float, float]:
    """Records per second end to end, mean microseconds per ``log()`` call, records per CPU-second.

    The last figure (process CPU time: callers and writer together) moves less than wall-clock
    throughput when other work shares the machine.
    """
    monitor = Monitor.open(
        url,
        batch_size=batch_size,
        flush_interval=0.05,
        max_queue=max(records, batch_size),
        quality=QualityConfig() if quality else None,
    )
    before = monitor.repo.count()
    calls = [_call(i) for i in range(records)]
    per_thread = [calls[n::threads] for n in range(threads)]
    caller_time = [0.0] * threads
    barrier = threading.Barrier(threads + 1)

    def work(n: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        for prompt, response, fields in per_thread[n]:
            monitor.log(prompt, response, timeout=60, **fields)
        caller_time[n] = time.perf_counter() - started

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in pool:
        t.join()
    monitor.flush()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    stored = monitor.repo.count() - before
    monitor.close()
    if stored != records:
        raise SystemExit(f"expected {records} new records, found {stored}")
    return records / elapsed, sum(caller_time) / records * 1e6, records / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--no-quality", action="store_true", help="skip data-quality flags")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        backend = url.split(":", 1)[0].split("+", 1)[0]
        rate, per_call, per_cpu = run(url, args.records, args.threads, args.batch_size, not args.no_quality)
    print(
        f"{args.records} records, {args.threads} thread(s): {rate:,.0f} records/s "
        f"({per_cpu:,.0f} per CPU-second); log() takes the caller {per_call:.0f} us"
    )
    flags = "no quality flags" if args.no_quality else "quality flags on"
    print(
        f"| ingest, SDK batched writer -> {backend} | {args.records:,} records, {args.threads} thread(s), "
        f"batch {args.batch_size}, {flags} | {rate:,.0f} records/s, {per_cpu:,.0f} per CPU-s (target >= 5,000/s) | "
        f"{date.today().isoformat()}, {platform.machine()}, Python {platform.python_version()} |"
    )


if __name__ == "__main__":
    main()
