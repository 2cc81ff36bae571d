"""Proxy overhead: added latency, added time to first token and CPU per call of ``pellucid serve --upstream``.

Three processes, so each side's cost is its own:

- the **upstream**, ``tests/support/fast_upstream.py`` — an OpenAI-compatible server that streams
  ``--chunks`` chunks at once, with no model, so generation is not what is measured;
- the **proxy**, a real ``pellucid serve --upstream fast=URL`` logging every call to a fresh SQLite
  file (the writer thread included: what a user runs);
- the **load generator**, ``benchmarks/sse_load.py`` — N keep-alive clients on raw asyncio
  streams (a lean client: ``httpx`` would spend a good share of a core on its own Python).

On a machine with at least two CPUs the proxy is pinned to one (``os.sched_setaffinity``, which
its threads inherit) and the upstream and the load generator to another, so the proxy never
competes with the load it serves; the output says which CPUs each got (``--no-pin`` to leave
them to the scheduler). Other jobs on the machine are not controlled: the load average is
printed at start and end.

For each concurrency level, ``--rounds`` rounds alternate a direct run (load generator → upstream)
and a proxied run (load generator → proxy → upstream) with the same load, so a drift of the
machine's load hits both; each client sends its calls one after the other on one connection. Three
arrival patterns (``--arrivals``): ``spread`` (the default first) offsets the clients' first calls
evenly over one call's duration, so calls begin at unrelated moments as independent users' do, and
times only calls made while all N clients are busy; ``random`` draws those offsets at random (the
same draws on both sides), so some calls begin close together; ``lockstep`` starts all N at once,
and since their calls take about as long as each other they stay in step (a stress case: N calls
begin within a millisecond and end together). The added figures are proxied p50 minus direct p50 (latency to
``data: [DONE]``, and time to the first chunk carrying text). Wall time at 50 clients on few cores
is mostly queueing, so the proxy's **CPU time per call** (user + system of the whole process, from
``/proc/<pid>/stat``, read around the timed calls plus the writer's flush interval) is reported
beside it: that is the cost a call adds on any machine.

By default the upstream answers at once, so 50 closed-loop clients saturate whichever process is
slowest: that measures the proxy's throughput (calls per CPU second), not the latency it adds to a
call. ``--delay-ms D`` makes the upstream stream at a model's pace (D ms before each chunk: 20 ms
is 50 tokens/s per stream, a GPU server's pace), so 50 concurrent streams are what a real stack
sends and the added figures are the proxy's overhead per call at that load. ``--batched`` makes
the upstream pace its streams as a batching server (vLLM, TGI) does: one shared clock, every
open stream's next chunk sent on the same tick, so the proxy gets them in bursts of N.

``--peer litellm`` measures a peer gateway in the same rounds: LiteLLM's proxy server in front of
the same upstream, pinned to the proxy's CPUs, one process like Pellucid's
(``benchmarks/litellm_peer.py`` says how it runs; ``scripts/litellm_env.sh`` installs it in
``./.venv-litellm``). Its rows add ``litellm_added_*`` beside Pellucid's ``added_*``, and
``cpu_ratio_to_litellm``: Pellucid's CPU per call over LiteLLM's.

Targets (issue 17): added p50 latency ≤ 2 ms and added TTFT ≤ 5 ms, at 1 and 50 clients. Each row
gives the added p50s over all rounds and per round (``added_total_p50_ms_per_round``), and a
``verdict`` per target from the rounds: ``met`` when every round is within it, ``not met`` when none
is, ``undecided`` when they fall on both sides (a VM's speed moving between runs can put one pooled
figure on either side by chance).

    python benchmarks/bench_proxy.py [--clients 1,50] [--calls 200] [--rounds 3] [--chunks 8] [--delay-ms 0] [--batched]
        [--arrivals spread,random,lockstep] [--json] [--no-pin] [--pids] [--peer litellm]

``--pids`` prints the proxy's and the upstream's process ids once they are up, to profile one
while the load runs (``py-spy record --idle -p PID -o proxy.svg``; with ``--calls`` large
enough to last the profile).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import product
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.litellm_peer import check_installed, litellm_proxy  # noqa: E402
from tests.hardening.harness import Server, make_tiny  # noqa: E402
from tests.support.fast_upstream import fast_upstream_server  # noqa: E402

#: Peer gateways ``--peer`` can run beside Pellucid's proxy (``benchmarks/litellm_peer.py``).
PEERS = {"litellm"}
TICK = os.sysconf("SC_CLK_TCK")
WRITER_FLUSH_S = 0.4  # the writer's flush interval (0.25 s) and its batch: counted in the proxy's CPU


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15 of proc(5))


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run the block (and the processes it starts, which inherit it) on ``cpus``; None: unchanged."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run(
    port: int, clients: int, calls: int, stream: bool, pids: dict[str, int], arrivals: str, seed: int = 0
) -> dict[str, Any]:
    """One timed run of the load generator against ``port``: latencies and each process's CPU seconds."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "sse_load.py"), "--port", str(port), "--arrivals", arrivals,
           "--clients", str(clients), "--calls", str(calls), "--stream" if stream else "--no-stream",
           "--seed", str(seed)]  # fmt: skip
    gen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert gen.stdin is not None and gen.stdout is not None
    try:
        if gen.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the load generator failed to warm up against port {port}")
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        gen.stdin.write("go\n")
        gen.stdin.flush()
        result = json.loads(gen.stdout.readline())
        time.sleep(WRITER_FLUSH_S)
        result["cpu"] = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    finally:
        gen.stdin.close()
        if gen.wait(30) != 0:
            raise RuntimeError(f"the load generator exited with {gen.returncode}")
    return dict(result)


#: The issue's targets: what the proxy may add to the p50 of each (ms).
TARGETS = {"total": 2.0, "ttft": 5.0}


def measure(
    ports: dict[str, int], pids: dict[str, int], clients: int, calls: int, rounds: int, stream: bool, arrivals: str
) -> dict[str, Any]:
    """Rounds of (direct, proxied) runs at one concurrency: p50s, added p50s and CPU ms per call."""
    per_client = max(1, calls // clients)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in ports}  # each side's result per round
    for round_ in range(rounds):
        for side, port in ports.items():  # random arrivals: new draws each round, the same on both sides
            runs[side].append(run(port, clients, per_client, stream, pids, arrivals, seed=round_))
    row: dict[str, Any] = {"mode": "stream" if stream else "json", "arrivals": arrivals, "clients": clients}
    row["calls_per_side"] = sum(len(r["total_ms"]) for r in runs["proxy"])
    for what in ("total", "ttft"):
        row.update(_added(runs, what))
    row["cpu_ms_per_call"] = _cpu_per_call(runs)
    for peer in PEERS & ports.keys():  # what a call costs each gateway's own process, Pellucid's over the peer's
        own = row["cpu_ms_per_call"][f"{peer}_{peer}"]
        row[f"cpu_ratio_to_{peer}"] = round(row["cpu_ms_per_call"]["proxy_proxy"] / own, 3) if own else None
    row["verdict"] = {what: verdict(row[f"added_{what}_p50_ms_per_round"], TARGETS[what]) for what in TARGETS}
    row["targets_met"] = all(v.startswith("met") for v in row["verdict"].values())
    return row


def _added(runs: dict[str, list[dict[str, Any]]], what: str) -> dict[str, Any]:
    """The p50s of ``what`` (``total`` or ``ttft``) over all rounds, and what each gateway adds, overall and per round.

    Peers' fields are prefixed with their name (``litellm_added_total_p50_ms``); Pellucid's are not.
    """
    key = f"{what}_ms"
    p50 = {side: statistics.median(v for r in results for v in r[key]) for side, results in runs.items()}
    fields: dict[str, Any] = {f"direct_{what}_p50_ms": round(p50["direct"], 2)}
    for side in [side for side in runs if side != "direct"]:
        prefix = "" if side == "proxy" else f"{side}_"
        fields[f"{side}_{what}_p50_ms"] = round(p50[side], 2)
        fields[f"{prefix}added_{what}_p50_ms"] = round(p50[side] - p50["direct"], 2)
        fields[f"{prefix}added_{what}_p50_ms_per_round"] = [
            round(statistics.median(mine[key]) - statistics.median(direct[key]), 2)
            for mine, direct in zip(runs[side], runs["direct"], strict=True)
        ]
    return fields


def _cpu_per_call(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Each process's CPU ms per call made while each side ran (``proxy_proxy``: Pellucid's, during its runs)."""
    out = {}
    for side, results in runs.items():
        made = sum(r["calls_made"] for r in results)  # timed or not: what the CPU seconds paid for
        for name in results[0]["cpu"]:
            out[f"{side}_{name}"] = round(sum(r["cpu"][name] for r in results) * 1000 / made, 3)
        out[f"{side}_load"] = round(sum(r["cpu_s"] for r in results) * 1000 / made, 3)
    return out


def verdict(per_round: list[float], target: float) -> str:
    """``met`` when every round's added p50 is within ``target``, ``not met`` when none is, else ``undecided``.

    This VM's speed moves between runs, so one pooled figure can land on either side of a target by
    chance; a verdict needs the rounds to agree.
    """
    if all(value <= target for value in per_round):
        return "met" if len(per_round) > 1 else "met (one round: repeat with --rounds 3 to confirm)"
    if all(value > target for value in per_round):
        return "not met" if len(per_round) > 1 else "not met (one round: repeat with --rounds 3 to confirm)"
    return "undecided: the rounds fall on both sides of the target"


def placement(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(proxy CPUs, upstream + load generator CPUs), or (None, None) when not pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,50", help="comma-separated concurrency levels")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per side and round, split over the clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=8, help="text chunks per streamed answer")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="upstream's wait before each streamed chunk")
    parser.add_argument(
        "--batched",
        action="store_true",
        help="the upstream sends every open stream's chunk together every --delay-ms (a batching server's steps)",
    )
    parser.add_argument("--json", action="store_true", help="also measure non-streamed calls")
    parser.add_argument(
        "--arrivals",
        default="spread,random,lockstep",
        help="comma-separated: spread (calls begin at evenly spread moments), random (at random moments) "
        "and/or lockstep (all clients at once)",
    )
    parser.add_argument(
        "--peer",
        choices=sorted(PEERS),
        help="also measure a peer gateway in front of the same upstream, in the same rounds "
        "(litellm: LiteLLM's proxy from ./.venv-litellm, made by scripts/litellm_env.sh)",
    )
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True, help="pin the processes")
    parser.add_argument(
        "--pids", action="store_true", help="print the proxy's and the upstream's pids (to attach a profiler)"
    )
    args = parser.parse_args()
    if args.peer == "litellm":
        check_installed()  # before anything starts
    proxy_cpus, load_cpus = placement(args.pin)
    print(f"load average at start: {open('/proc/loadavg').read().strip()}")
    print(
        f"pinned: proxy on CPUs {sorted(proxy_cpus)}, upstream and load generator on CPUs {sorted(load_cpus)}"
        if proxy_cpus and load_cpus
        else "not pinned: the scheduler places the proxy, the upstream and the load generator"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp, pinned(load_cpus):
        with fast_upstream_server(args.chunks, args.delay_ms, args.batched) as (upstream, upstream_proc):
            root = Path(tmp)
            model = make_tiny(root / "tiny")  # --model is required by the harness; proxy mode does not load it
            db = f"sqlite:///{root / 'proxy.db'}"
            with pinned(proxy_cpus):
                server = Server(model, db, root / "home", extra_args=["--upstream", f"fast={upstream}"])
            with server, ExitStack() as peers:
                up_port = int(upstream.rsplit(":", 1)[1].split("/")[0])
                ports = {"direct": up_port, "proxy": server.port}
                pids = {"proxy": server.proc.pid, "upstream": upstream_proc.pid}
                if args.peer == "litellm":
                    with pinned(proxy_cpus):  # on the proxy's CPUs, as Pellucid's proxy is
                        ports["litellm"], peer = peers.enter_context(litellm_proxy(upstream, root))
                    pids["litellm"] = peer.pid
                if args.pids:
                    print(f"pids: {json.dumps(pids)}", flush=True)
                for stream in (True, False) if args.json else (True,):
                    patterns = args.arrivals.split(",")
                    for clients, arrivals in product(map(int, args.clients.split(",")), patterns):
                        if clients == 1 and arrivals != patterns[0]:
                            continue  # one client: every pattern is the same
                        rows.append(measure(ports, pids, clients, args.calls, args.rounds, stream, arrivals))
                        rows[-1]["upstream_delay_ms"] = args.delay_ms
                        rows[-1]["upstream_batched"] = args.batched
                        print(json.dumps(rows[-1]), flush=True)
    print(f"load average at end: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
