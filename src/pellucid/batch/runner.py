"""``run_job()``: split items into blocks, run a :class:`~pellucid.batch.task.Task` on each, keep the rows.

    job = run_job(ExplainTask(method="occlusion"), items, out="results.parquet", backend="ray")

Backends:

- ``local`` (default): blocks run one after another in this process (each block is batched by
  the task itself). Needs nothing beyond the core install.
- ``ray``: blocks become rows of a Ray Data dataset, mapped by an actor pool in which each actor
  loads the model once (:mod:`pellucid.batch.ray_backend`); needs ``pip install 'pellucid[ray]'``.

Whatever the backend, the driver writes each finished block to the :class:`~.sink.BlockSink`
(resumable: blocks already on disk are skipped) and hands its rows to ``on_rows`` — the hook
that writes enrichment results into the store, for example. ``progress(done, total)`` counts
items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pellucid.batch.sink import BlockSink
from pellucid.batch.task import Task, digest
from pellucid.errors import InvalidInputError

BACKENDS = ("local", "ray")
Progress = Callable[[int, int], None]
RowsHook = Callable[[int, list[dict[str, Any]]], None]


@dataclass
class RayOptions:
    """Where and how wide a Ray job runs.

    Attributes:
        address: ``None`` starts a local Ray instance on this machine; ``"auto"`` joins the
            cluster this machine belongs to (``ray start --head`` / ``ray start --address``);
            ``"ray://host:10001"`` connects through Ray Client.
        actors: how many actors (model copies) work at once; default: CPUs / ``cpus_per_actor``.
        cpus_per_actor / gpus_per_actor: resources each actor reserves (its torch threads
            follow ``cpus_per_actor``).
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0


@dataclass
class JobReport:
    """What a job did: counts, the output file, the backend, wall time."""

    task: str
    backend: str
    items: int
    blocks: int
    blocks_skipped: int
    rows_written: int
    seconds: float
    out: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float:
        done = self.items * (self.blocks - self.blocks_skipped) / max(self.blocks, 1)
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "items_per_second": round(self.items_per_second, 3)}


def plan_blocks(n_items: int, block_size: int) -> list[range]:
    """Consecutive item ranges of at most ``block_size`` items."""
    if block_size < 1:
        raise InvalidInputError(f"--block-size must be at least 1, got {block_size}.")
    return [range(start, min(start + block_size, n_items)) for start in range(0, n_items, block_size)]


def _check_job(task: Task, items: Sequence[dict[str, Any]], backend: str, has_output: bool) -> None:
    """Refuse an unknown backend, an empty job and a job whose rows would go nowhere; then the task's own checks."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"Unknown backend {backend!r}; use one of: {', '.join(BACKENDS)}.")
    if not items:
        raise InvalidInputError("The job has no items to process; check the data set (and --limit).")
    if not has_output:
        raise InvalidInputError("A batch job needs somewhere to put its results: give --out FILE.")
    task.validate()


def _run_blocks(
    task: Task,
    backend: str,
    payloads: Iterator[tuple[int, list[dict[str, Any]]]],
    n_blocks: int,
    ray: RayOptions | None,
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Each block's rows, as the backend finishes them (in this process, or on a Ray actor pool)."""
    if backend == "local":
        return _run_local(task, payloads)
    from pellucid.batch.ray_backend import run_ray

    return run_ray(task, payloads, n_blocks, ray or RayOptions())


def run_job(
    task: Task,
    items: Sequence[dict[str, Any]],
    *,
    out: str | Path | None = None,
    backend: str = "local",
    block_size: int = 16,
    overwrite: bool = False,
    ray: RayOptions | None = None,
    on_rows: RowsHook | None = None,
    progress: Progress | None = None,
) -> JobReport:
    """Run ``task`` over ``items`` block by block; see the module docstring."""
    _check_job(task, items, backend, out is not None or on_rows is not None)
    started = time.perf_counter()
    blocks = plan_blocks(len(items), block_size)
    fingerprint = {**task.fingerprint(), "items": digest(items), "n_items": len(items), "block_size": block_size}
    sink = BlockSink(out, fingerprint, len(blocks), overwrite=overwrite) if out is not None else None
    done = sink.done() if sink is not None else set()
    todo = [b for b in range(len(blocks)) if b not in done]
    total = len(items)
    finished = sum(len(blocks[b]) for b in done)
    if progress is not None:
        progress(finished, total)
    payloads = ((b, [items[i] for i in blocks[b]]) for b in todo)
    written = 0
    for block, rows in _run_blocks(task, backend, payloads, len(todo), ray):
        if sink is not None:
            sink.write(block, rows)
        if on_rows is not None:
            on_rows(block, rows)
        written += len(rows)
        finished += len(blocks[block])
        if progress is not None:
            progress(finished, total)
    final = sink.finish() if sink is not None else None
    return JobReport(
        task=task.name,
        backend=backend,
        items=len(items),
        blocks=len(blocks),
        blocks_skipped=len(done),
        rows_written=written,
        seconds=round(time.perf_counter() - started, 3),
        out=str(final) if final is not None else None,
    )


Blocks = Iterator[tuple[int, list[dict[str, Any]]]]


def _run_local(task: Task, payloads: Blocks) -> Blocks:
    task.ensure_setup()
    for block, items in payloads:
        yield block, task.run_block(items)
