"""``pellucid audit traffic``: toxicity, personal data and groundedness of logged calls, row by row.

    pellucid audit traffic --window last:7d --out report.html
    pellucid audit traffic --dataset calls.jsonl --backend ray --rows audit.parquet --out report.html

The calls come from the monitoring store (``--window``, as in ``pellucid monitor drift``) or from
a JSONL/CSV/TSV file with ``prompt`` and ``response`` columns (``context`` and ``id`` optional).
Rows are computed in blocks — here or on a Ray cluster — written to ``--rows`` (resumable), and
summarised into an audit report (``--out`` HTML + JSON, input of ``pellucid card``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from pellucid.cli.batch_options import (
    ActorsOption,
    AddressOption,
    BackendOption,
    CpusOption,
    GpusOption,
    OverwriteOption,
    run_batch,
)
from pellucid.cli.common import JsonOption, err_console, fail, handle_errors, open_store, settings_from

WindowOption = typer.Option(None, "--window", help="Stored calls, e.g. last:7d or 2026-11-01..2026-11-08.")
DatasetOption = typer.Option(None, "--dataset", help="JSONL/CSV/TSV with prompt, response[, context, id].")
LimitOption = typer.Option(None, "--limit", min=1, help="At most N calls.")
RowsOutOption = typer.Option(None, "--rows", help="Per-call rows (.parquet or .jsonl), resumable.")
OutOption = typer.Option(None, "--out", "-o", help="Write the HTML report here (and the JSON beside it).")
CutoffOption = typer.Option(0.5, help="Toxicity score from which a response counts as toxic.")
MaxToxicRateOption = typer.Option(0.05, "--max-toxic-rate", help="Pass when the toxic share is at most this.")
MaxPiiRateOption = typer.Option(0.05, "--max-pii-rate", help="Pass when the share with PII is at most this.")
MinGroundedOption = typer.Option(0.9, "--min-grounded", help="Pass when this share of answers is grounded.")
ModelOption = typer.Option(None, "--model", "-m", help="Name shown in the report (default: the calls').")
StrictOption = typer.Option(False, "--strict", metavar="", help="Exit 1 when a check fails.")
SaveMetricsOption = typer.Option(
    False,
    "--save-metrics",
    metavar="",
    help="With --window: store toxicity, pii_count and grounded on each record.",
)
BlockSizeOption = typer.Option(256, "--block-size", min=1, help="Calls per block (progress and resume).")


@handle_errors
def traffic(
    ctx: typer.Context, window: str | None = WindowOption, dataset: Path | None = DatasetOption,
    limit: int | None = LimitOption, rows_out: Path | None = RowsOutOption, out: Path | None = OutOption,
    cutoff: float = CutoffOption, max_toxic_rate: float = MaxToxicRateOption, max_pii_rate: float = MaxPiiRateOption,
    min_grounded: float = MinGroundedOption, model: str | None = ModelOption, strict: bool = StrictOption,
    save_metrics: bool = SaveMetricsOption, as_json: bool = JsonOption, backend: str = BackendOption,
    address: str | None = AddressOption, actors: int | None = ActorsOption, cpus_per_actor: float = CpusOption,
    gpus_per_actor: float = GpusOption, block_size: int = BlockSizeOption, overwrite: bool = OverwriteOption,
) -> None:  # fmt: skip
    """Audit logged calls: toxic responses, personal data, answers unsupported by their context."""
    from pellucid.batch.audit_task import TrafficAuditTask, traffic_report
    from pellucid.cli.audit_output import write_report

    if (window is None) == (dataset is None):
        raise fail("Give --window SPEC (calls in the store) or --dataset FILE (not both).")
    if save_metrics and window is None:
        raise fail("--save-metrics writes onto stored records: use it with --window.")
    settings = settings_from(ctx)
    started = time.perf_counter()
    items, source, models = _calls(ctx, window, dataset, limit)
    if not items:
        raise fail(f"No calls to audit in {source}.")
    batch = {"backend": backend, "address": address, "actors": actors, "cpus_per_actor": cpus_per_actor,
             "gpus_per_actor": gpus_per_actor, "block_size": block_size, "overwrite": overwrite}  # fmt: skip
    task = TrafficAuditTask(settings=settings, cutoff=cutoff)
    rows = _audited_rows(ctx, task, items, rows_out=rows_out, save_metrics=save_metrics, quiet=as_json, batch=batch)
    name = model or (", ".join(sorted(models)) if models else "unknown model")
    report = traffic_report(rows, model=name, source=source, max_toxic_rate=max_toxic_rate, max_pii_rate=max_pii_rate,
                            min_grounded_rate=min_grounded, seconds=time.perf_counter() - started)  # fmt: skip
    write_report(report, out, as_json)
    if strict and report.summary["pass"] != len(report.checks):
        raise typer.Exit(1)


def _audited_rows(
    ctx: typer.Context, task: Any, items: list[dict[str, Any]], *, rows_out: Path | None, save_metrics: bool,
    quiet: bool, batch: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    """Run the audit over ``items`` block by block; each block's figures are saved on the stored records
    with ``save_metrics``; the rows come back from ``rows_out`` or, without it, from memory."""
    from pellucid.batch import read_results
    from pellucid.batch.audit_task import record_metrics

    collected: dict[int, list[dict[str, Any]]] = {}
    store = open_store(ctx) if save_metrics else None
    saved = {"values": 0, "records": 0}

    def on_rows(block: int, rows: list[dict[str, Any]]) -> None:
        if rows_out is None:
            collected[block] = rows
        if store is not None:
            values = record_metrics(rows)
            store.repo.add_metrics(values)
            saved["values"] += len(values)
            saved["records"] += len({record_id for record_id, _, _ in values})

    try:
        run_batch(task, items, out=rows_out, quiet=quiet, on_rows=on_rows, label=f"auditing {len(items)} calls",
                  **batch)  # fmt: skip
    finally:
        if store is not None:
            store.close()
    if store is not None:
        err_console.print(
            f"saved {saved['values']} metric values on {saved['records']} records in {store.url}", highlight=False
        )
    return read_results(rows_out) if rows_out is not None else [r for b in sorted(collected) for r in collected[b]]


def _calls(ctx: typer.Context, window: str | None, dataset: Path | None, limit: int | None) -> Any:
    """The calls to audit, their source and their models: from the store's window, or from the file."""
    from pellucid.service.audit import traffic_from_file, traffic_from_store

    if window is not None:
        with open_store(ctx) as store:
            return traffic_from_store(store, window, limit)
    if dataset is None:
        raise fail("Give --window SPEC (calls in the store) or --dataset FILE (not both).")
    return traffic_from_file(dataset, limit)
