"""Options every data-set command shares (``--backend``, ``--address``, ``--actors``...) and the job runner.

    pellucid explain --dataset sst2.tsv --method occlusion --backend ray --out results.parquet

The commands build a :class:`~pellucid.batch.task.Task` and its items, then call
:func:`run_batch`, which draws one progress bar over the items and prints where the rows went.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pellucid.cli.common import err_console, fail
from pellucid.cli.progress import progress

if TYPE_CHECKING:
    from pellucid.batch import JobReport, Task
    from pellucid.batch.runner import RowsHook

BackendOption = typer.Option("local", "--backend", help="local (this process) or ray (an actor pool on a Ray cluster).")
AddressOption = typer.Option(
    None,
    "--address",
    help="Ray cluster: auto (the one this machine joined) or ray://host:10001; default: start Ray here.",
)
ActorsOption = typer.Option(
    None, "--actors", min=1, help="Ray actors (model copies); default: CPUs / --cpus-per-actor."
)
CpusOption = typer.Option(1.0, "--cpus-per-actor", min=0.1, help="CPUs each Ray actor reserves (its torch threads).")
GpusOption = typer.Option(0.0, "--gpus-per-actor", min=0.0, help="GPUs each Ray actor reserves.")
BlockOption = typer.Option(16, "--block-size", min=1, help="Items per block (the unit of progress and resume).")
OverwriteOption = typer.Option(
    False, "--overwrite", metavar="", help="Start over: replace --out and any half-finished job."
)


def check_backend(backend: str, address: str | None) -> None:
    from pellucid.batch import BACKENDS

    if backend not in BACKENDS:
        raise fail(f"--backend {backend!r}: use one of {', '.join(BACKENDS)}.")
    if address is not None and backend != "ray":
        raise fail("--address only applies to --backend ray.")


def run_batch(
    task: Task,
    items: list[dict[str, Any]],
    *,
    out: Path | None,
    backend: str,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    block_size: int = 16,
    overwrite: bool = False,
    on_rows: RowsHook | None = None,
    quiet: bool = False,
    label: str | None = None,
) -> JobReport:
    """Run ``task`` over ``items`` with a progress bar; report resumed blocks and the output file."""
    from pellucid.batch import RayOptions, run_job

    check_backend(backend, address)
    ray = RayOptions(address=address, actors=actors, cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor)
    with progress(quiet) as shown:
        report = run_job(
            task, items, out=out, backend=backend, block_size=block_size, overwrite=overwrite, ray=ray,
            on_rows=on_rows, progress=shown.callback(f"{label or task.name} ({backend})"),
        )  # fmt: skip
    if report.blocks_skipped:
        err_console.print(f"resumed: {report.blocks_skipped} of {report.blocks} blocks were already written")
    if report.out is not None:
        err_console.print(f"wrote {report.out} ({report.items} items, {report.seconds:.1f} s)")
    return report
