"""Crash window: SIGKILL a real ``pellucid serve`` in the middle of a burst, then count what was lost.

Each round starts ``pellucid serve`` (tiny random Llama, SQLite) in a subprocess, runs
``--clients`` clients against ``/v1/chat/completions``, and sends SIGKILL ``--kill-after``
seconds in (no shutdown, no flush: a crash). Then it compares the record ids the clients were
acknowledged (HTTP 200 + ``X-Pellucid-Record-Id``) with the ids in the database.

Prints per round and in total: acknowledged, stored, lost (acknowledged but not stored), stored
without acknowledgement (calls in flight at the kill), the loss window (how long before the
kill the oldest lost record was acknowledged), SQLite ``integrity_check`` after the kill, and
whether the store reopens.

    python benchmarks/bench_faults.py [--rounds 3] [--clients 50] [--kill-after 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hardening.harness import Server, make_tiny, run_load, sqlite_integrity, stored  # noqa: E402


def one_round(model: Path, root: Path, clients: int, kill_after: float) -> dict[str, object]:
    from pellucid.monitor import Store

    db = root / "crash.db"
    server = Server(model, f"sqlite:///{db}", root / "home")
    server.wait_ready()
    killer = threading.Timer(kill_after, server.kill)
    killer.start()
    try:
        result = run_load(server.url, clients=clients, seconds=kill_after + 2)
    finally:
        killer.join()
        server.stop()
    killed_at = result.started + kill_after
    ids, _ = stored(f"sqlite:///{db}")
    lost = set(result.acked) - set(ids)
    with Store.open(f"sqlite:///{db}") as store:
        reopened = store.repo.count() == len(ids)
    return {
        "acknowledged": len(result.acked),
        "stored": len(ids),
        "lost": len(lost),
        "stored_unacknowledged": len(set(ids) - set(result.acked)),
        "loss_window_s": round(max((killed_at - result.acked[i] for i in lost), default=0.0), 3),
        "acked_per_s": round(len(result.acked) / kill_after, 1),
        "integrity": sqlite_integrity(db),
        "reopens": reopened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--kill-after", type=float, default=8.0)
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny(Path(tmp) / "tiny")
        for i in range(args.rounds):
            root = Path(tmp) / f"round{i}"
            root.mkdir()
            rounds.append(one_round(model, root, args.clients, args.kill_after))
            print(json.dumps({"round": i + 1, **rounds[-1]}), flush=True)
    total = {
        "rounds": len(rounds),
        "acknowledged": sum(r["acknowledged"] for r in rounds),  # type: ignore[misc]
        "lost": sum(r["lost"] for r in rounds),  # type: ignore[misc]
        "max_loss_window_s": max(r["loss_window_s"] for r in rounds),  # type: ignore[type-var]
        "all_integrity_ok": all(r["integrity"] == "ok" for r in rounds),
        "all_reopen": all(r["reopens"] for r in rounds),
    }
    print(json.dumps(total, indent=1))


if __name__ == "__main__":
    main()
