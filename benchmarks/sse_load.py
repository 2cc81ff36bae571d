"""A lean load generator for ``bench_proxy.py``: N keep-alive clients posting chat completions, in its own process.

A benchmark's clients must not eat the CPU they are measuring. ``httpx`` spends a few hundred
microseconds of Python per call (its pool, h11, headers objects); with 50 clients on a 2-core
machine that is a large share of a core taken from the servers under test. This client speaks
just the HTTP/1.1 it needs over ``asyncio`` streams: one prepared request per client, the status
line and headers read in one go, the body read by ``Content-Length`` or chunk by chunk
(``Transfer-Encoding: chunked``, what a streamed answer uses).

Per call it measures the time to the first chunk carrying text (``" w0"``, the fast upstream's
first word) and to the end of the answer; a stream must end with ``data: [DONE]``.

Protocol with the parent (``bench_proxy.py``): it connects and warms every client up, prints
``ready``, waits for a line on stdin, runs the timed calls, and prints one JSON object
``{"ttft_ms": [...], "total_ms": [...], "cpu_s": ..., "calls_made": ...}`` (``cpu_s``: this
process's CPU time during the run; ``calls_made``: the calls it made, timed or not).

Arrivals: ``lockstep`` starts every client's calls at the same moment, and since the calls take
about as long as each other the clients stay in step (a stress case: 50 calls begin within a
millisecond); ``spread`` offsets client *i*'s first call by *i/N* of one call's duration (taken
from the warm-up), as independent users' calls begin at unrelated moments, and times only calls
made while every client is busy; ``random`` does the same with offsets drawn uniformly at random
over one call's duration (``--seed``: the same draws for the direct and the proxied run), so some
calls begin close together, as independent users' calls sometimes do.

    python benchmarks/sse_load.py --port P [--clients 50] [--calls 12] [--stream|--no-stream] [--arrivals spread]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time

FIRST_TEXT = b'" w0"'


def request_bytes(host: str, port: int, path: str, stream: bool) -> bytes:
    """One keep-alive POST of a short chat completion (the same bytes for every call)."""
    body = json.dumps(
        {"model": "fast", "messages": [{"role": "user", "content": "Say something"}], "stream": stream}
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, float | None]:
    """Read one response; (its body, when the first text arrived or None)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    lowered = head.lower()
    first: float | None = None
    if b"transfer-encoding: chunked" in lowered:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            if first is None and FIRST_TEXT in data:
                first = time.perf_counter()
            parts.append(data[:-2])
        body = b"".join(parts)
    else:
        start = lowered.index(b"content-length:") + len(b"content-length:")
        length = int(lowered[start : lowered.index(b"\r\n", start)])
        body = await reader.readexactly(length)
        first = time.perf_counter()
    if status != b"200":
        raise RuntimeError(f"the server answered {status.decode()}: {body[:200]!r}")
    return body, first


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def client(
    conn: Connection, payload: bytes, stream: bool, calls: int, out: dict[str, list[float]], timed: range | None = None
) -> int:
    """``calls`` calls one after the other on one kept-alive connection; those in ``timed`` (all: None) are kept.

    Returns the number of calls made.
    """
    reader, writer = conn
    for index in range(calls):
        t0 = time.perf_counter()
        writer.write(payload)
        body, first = await read_answer(reader)
        end = time.perf_counter()
        if stream and not body.rstrip().endswith(b"data: [DONE]"):
            raise RuntimeError("a stream ended without [DONE]")
        if timed is None or index in timed:
            out["ttft_ms"].append(((first or end) - t0) * 1000)
            out["total_ms"].append((end - t0) * 1000)
    return calls


async def spread_client(
    conn: Connection, payload: bytes, stream: bool, calls: int, out: dict[str, list[float]], offset: float
) -> int:
    """Start after ``offset`` seconds and make ``calls`` timed calls between an untimed first and last one.

    With the clients' offsets spread over one call's duration, every timed call runs while all
    the clients are busy, and their calls start at independent moments, as separate users' do.
    """
    await asyncio.sleep(offset)
    return await client(conn, payload, stream, calls + 2, out, range(1, calls + 1))


async def main(args: argparse.Namespace) -> None:
    payload = request_bytes(args.host, args.port, args.path, args.stream)
    conns = [await asyncio.open_connection(args.host, args.port) for _ in range(args.clients)]
    warm: dict[str, list[float]] = {"ttft_ms": [], "total_ms": []}
    await asyncio.gather(*(client(c, payload, args.stream, 2, warm) for c in conns))
    call_s = statistics.median(warm["total_ms"]) / 1000  # one call's duration under this load
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    out: dict[str, list[float]] = {"ttft_ms": [], "total_ms": []}
    cpu = time.process_time()
    if args.arrivals in ("spread", "random"):
        n, draw = len(conns), random.Random(args.seed).random
        offsets = [i / n if args.arrivals == "spread" else draw() for i in range(n)]
        runs = [spread_client(c, payload, args.stream, args.calls, out, f * call_s) for f, c in zip(offsets, conns)]
    else:
        runs = [client(c, payload, args.stream, args.calls, out) for c in conns]
    made = sum(await asyncio.gather(*runs))
    cpu = time.process_time() - cpu
    for _, writer in conns:
        writer.close()
    print(json.dumps({**out, "cpu_s": cpu, "calls_made": made}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=12, help="timed calls per client")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--arrivals",
        choices=("lockstep", "spread", "random"),
        default="lockstep",
        help="lockstep: every client starts at once; spread: the clients' starts spread evenly over one call's "
        "duration; random: drawn at random over it",
    )
    parser.add_argument("--seed", type=int, default=0, help="the random arrivals' draws")
    asyncio.run(main(parser.parse_args()))
