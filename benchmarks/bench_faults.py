"""Crash window: SIGKILL a real ``pellucid serve`` in the middle of a burst, then count what was lost.

Both logging modes, side by side. Each round starts ``pellucid serve`` (tiny random Llama,
SQLite) in a subprocess, once in the default mode and once with ``--durable``, runs
``--clients`` clients against ``/v1/chat/completions``, and sends SIGKILL ``--kill-after``
seconds in (no shutdown, no flush: a crash). A durable server is then started again on the same
store — its start replays the journal — and stopped. Then the record ids the clients were
acknowledged (HTTP 200 + ``X-Pellucid-Record-Id``) are compared with the ids in the database.

Prints per round and mode: acknowledged, stored, lost (acknowledged but not stored), stored
twice, stored without acknowledgement (calls in flight at the kill), the loss window (how long
before the kill the oldest lost record was acknowledged), the latency p50 of the burst, SQLite
``integrity_check`` after the kill, and whether the store reopens. Then, per mode, the p50 of
one client calling alone for ``--quiet-seconds`` (the sync's cost without queueing; both
servers up, the client alternating between them each second), and the durable mode's added p50
in both settings.

    python benchmarks/bench_faults.py [--rounds 3] [--clients 50] [--kill-after 8] [--quiet-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hardening.harness import Server, make_tiny, run_load, sqlite_integrity, stored  # noqa: E402

MODES = ("default", "durable")


def one_round(model: Path, root: Path, clients: int, kill_after: float, *, durable: bool) -> dict[str, Any]:
    from pellucid.monitor import Store

    db = root / "crash.db"
    server = Server(model, f"sqlite:///{db}", root / "home", durable=durable)
    server.wait_ready()
    killer = threading.Timer(kill_after, server.kill)
    killer.start()
    try:
        result = run_load(server.url, clients=clients, seconds=kill_after + 2)
    finally:
        killer.join()
        server.stop()
    integrity = sqlite_integrity(db)  # as the kill left it, before any restart
    if durable:  # the next start replays the journal
        with Server(model, f"sqlite:///{db}", root / "home-restart", durable=True):
            pass
    killed_at = result.started + kill_after
    ids, _ = stored(f"sqlite:///{db}")
    lost = set(result.acked) - set(ids)
    with Store.open(f"sqlite:///{db}") as store:
        reopened = store.repo.count() == len(ids)
    return {
        "acknowledged": len(result.acked),
        "stored": len(ids),
        "lost": len(lost),
        "duplicated": len(ids) - len(set(ids)),
        "stored_unacknowledged": len(set(ids) - set(result.acked)),
        "loss_window_s": round(max((killed_at - result.acked[i] for i in lost), default=0.0), 3),
        "acked_per_s": round(len(result.acked) / kill_after, 1),
        "p50_ms": round(result.percentile(50), 1),
        "integrity": integrity,
        "reopens": reopened,
    }


def quiet_p50(model: Path, root: Path, seconds: float) -> dict[str, float]:
    """Per mode, the p50 latency of one client calling alone (no queueing: what the journal's sync adds).

    Both servers run at once and the client alternates between them in one-second slices, so a
    change in the machine's load during the measurement hurts both modes alike.
    """
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    with (
        Server(model, f"sqlite:///{root / 'quiet-default.db'}", root / "home-default") as default,
        Server(model, f"sqlite:///{root / 'quiet-durable.db'}", root / "home-durable", durable=True) as durable,
    ):
        urls = {"default": default.url, "durable": durable.url}
        for url in urls.values():
            run_load(url, clients=1, seconds=1.0)  # warm-up
        for k in range(max(2, round(seconds))):
            for mode in MODES if k % 2 == 0 else MODES[::-1]:
                latencies[mode] += run_load(urls[mode], clients=1, seconds=1.0).latencies_ms
    return {mode: round(statistics.median(values), 2) for mode, values in latencies.items()}


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "acknowledged": sum(r["acknowledged"] for r in rounds),
        "lost": sum(r["lost"] for r in rounds),
        "duplicated": sum(r["duplicated"] for r in rounds),
        "max_loss_window_s": max(r["loss_window_s"] for r in rounds),
        "median_burst_p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "all_integrity_ok": all(r["integrity"] == "ok" for r in rounds),
        "all_reopen": all(r["reopens"] for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--kill-after", type=float, default=8.0)
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny(Path(tmp) / "tiny")
        with Server(model, f"sqlite:///{Path(tmp) / 'warm.db'}", Path(tmp) / "warm"):
            pass  # the first start pays for cold caches; no round should
        for i in range(args.rounds):
            for mode in MODES if i % 2 == 0 else MODES[::-1]:  # interleaved: load changes hurt both alike
                root = Path(tmp) / f"round{i}-{mode}"
                root.mkdir()
                rounds[mode].append(one_round(model, root, args.clients, args.kill_after, durable=mode == "durable"))
                print(json.dumps({"round": i + 1, "mode": mode, **rounds[mode][-1]}), flush=True)
        quiet = quiet_p50(model, Path(tmp), args.quiet_seconds)
    totals = {mode: {**summary(rounds[mode]), "one_client_p50_ms": quiet[mode]} for mode in MODES}
    added = {
        "burst_p50_ms": round(totals["durable"]["median_burst_p50_ms"] - totals["default"]["median_burst_p50_ms"], 2),
        "one_client_p50_ms": round(quiet["durable"] - quiet["default"], 2),
    }
    print(json.dumps({"rounds": args.rounds, "clients": args.clients, **totals, "durable_added": added}, indent=1))


if __name__ == "__main__":
    main()
