"""Wall time of the README's defaults as a user runs them: ``inspect trace`` and the default audit suite.

Each command runs in a fresh process (``python -m pellucid ...``), model load included, exactly as
the docs give it; the targets are those of the command-line issue: the trace example in at most
30 s and the default audit suite in at most 3 minutes on a quiet 2-core machine. The audit's
per-check seconds come from its ``--json`` report.

    python benchmarks/bench_defaults.py                   # both, once each
    python benchmarks/bench_defaults.py --only audit --repeats 2
    python benchmarks/bench_defaults.py --quick           # a reduced run that only checks the script works
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TRACE = ["inspect", "trace", "The Eiffel Tower is located in the city of", "--target", " Paris",
         "--subject", "Eiffel Tower", "--json"]  # fmt: skip
AUDIT = ["audit", "--json"]  # the default suite, default options
QUICK = {"trace": ["--layers", "0-1", "--samples", "2"], "audit": ["--suite", "pii", "--set", "pii.probe=false"]}
TARGETS = {"trace": 30.0, "audit": 180.0}


def run(args: list[str], home: Path | None) -> tuple[float, dict]:
    """Seconds of one ``pellucid`` process, and its JSON output."""
    env = dict(os.environ)
    if home is not None:
        env["PELLUCID_HOME"] = str(home)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pellucid", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pellucid {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("trace", "audit"), default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="Reduced sizes: checks the script, not the targets.")
    parser.add_argument(
        "--home", type=Path, default=None, help="Pellucid home (default: PELLUCID_HOME or ~/.pellucid)."
    )
    args = parser.parse_args()

    commands = {"trace": TRACE, "audit": AUDIT}
    for name, command in commands.items():
        if args.only not in (None, name):
            continue
        command = [*command, *(QUICK[name] if args.quick else [])]
        times = []
        for _ in range(args.repeats):
            seconds, report = run(command, args.home)
            times.append(seconds)
        best = min(times)
        verdict = "quick run" if args.quick else ("met" if best <= TARGETS[name] else "NOT met")
        print(f"{name}: best {best:.1f} s of {len(times)} (target <= {TARGETS[name]:.0f} s: {verdict})")
        print(f"  pellucid {' '.join(repr(a) if ' ' in a else a for a in command)}")
        if name == "audit":
            for check in report["checks"]:
                print(f"    {check['check']:<14} {check['seconds']:7.1f} s  {check['status']}")
        else:
            print(f"    forward passes {report['meta']['forward_passes']}, in-method {report['meta']['seconds']:.1f} s")


if __name__ == "__main__":
    main()
