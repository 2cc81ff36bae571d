"""``pellucid monitor ...``: enrichment, drift, correlation with feedback, projection, alerts, purge.

Every command works on the monitoring store named by ``PELLUCID_DATABASE_URL`` (default: the
SQLite file in the Pellucid home).

    pellucid monitor enrich --limit 1000
    pellucid monitor drift --reference last:30d --current last:1d --json
    pellucid monitor correlate perplexity --window last:7d
    pellucid monitor alerts add slow "mean(latency_ms) > 500 over 1h" --webhook http://127.0.0.1:9000/hook
    pellucid monitor alerts check
    pellucid monitor purge --user-id u42        # or --before 2026-01-01
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from pellucid.cli.batch_options import ActorsOption, AddressOption, BackendOption, CpusOption, GpusOption, run_batch
from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    console,
    err_console,
    handle_errors,
    open_store,
    print_json,
    settings_from,
)
from pellucid.cli.monitor_alerts_cmd import alerts_app
from pellucid.cli.monitor_alerts_cmd import fmt_value as _fmt
from pellucid.cli.progress import progress
from pellucid.cli.typer_app import App

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.settings import Settings

app = App(help="Production monitoring: enrichment, drift, alerts, feedback.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

WindowOption = typer.Option(None, "--window", "-w", help="Records to use: last:7d, version:v2, 2026-11-01..2026-11-15.")


@contextmanager
def _progress(description: str, disable: bool) -> Iterator[Callable[[int, int], None]]:
    with progress(disable) as shown:
        yield shown.callback(description)


# -- enrichment -------------------------------------------------------------------------
EnrichLimitOption = typer.Option(None, "--limit", min=1, help="At most this many records (default: all waiting).")
EnrichBatchSizeOption = typer.Option(32, "--batch-size", min=1, help="Records embedded and written together.")
EnrichEmbeddingsOption = typer.Option(
    True, "--embeddings/--no-embeddings", metavar="", help="MiniLM prompt/response vectors."
)
EnrichLmMetricsOption = typer.Option(
    True, "--lm/--no-lm", metavar="", help="Perplexity and entropy under the serving model."
)


@app.command("enrich")
@handle_errors
def enrich(
    ctx: typer.Context,
    limit: int | None = EnrichLimitOption,
    batch_size: int = EnrichBatchSizeOption,
    model: str | None = ModelOption,
    embeddings: bool = EnrichEmbeddingsOption,
    lm_metrics: bool = EnrichLmMetricsOption,
    as_json: bool = JsonOption,
    backend: str = BackendOption,
    address: str | None = AddressOption,
    actors: int | None = ActorsOption,
    cpus_per_actor: float = CpusOption,
    gpus_per_actor: float = GpusOption,
) -> None:
    """Add embeddings, perplexity, entropy and flag counts to records that lack them.

    Each record is scored by the model that answered it (its logged name); --model scores
    every record with MODEL instead. --backend ray computes on a Ray cluster's actors (each
    loads the models once) while this process writes the results into the store.
    """
    from pellucid.service.enrichment import Enricher

    settings = settings_from(ctx)
    if backend != "local":
        _enrich_batch(ctx, settings, limit=limit, batch_size=batch_size, model=model, embeddings=embeddings,
                      lm_metrics=lm_metrics, as_json=as_json, backend=backend, address=address, actors=actors,
                      cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor)  # fmt: skip
        return
    lm = None
    if model is not None and lm_metrics:
        from pellucid.cli.common import load_lm

        lm = load_lm(model, settings, quiet=as_json)
    with open_store(ctx) as store:
        enricher = Enricher(store, settings, lm=lm, batch_size=batch_size, embeddings=embeddings, lm_metrics=lm_metrics)
        with _progress("enriching", as_json) as progress:
            stats = enricher.run_once(limit, progress=progress)
        pending = enricher.pending()
    data = {**stats.to_dict(), "pending": pending}
    if as_json:
        print_json(data)
        return
    console.print(
        f"Enriched {stats.records} records ({stats.records_per_second:.1f}/s): {stats.embeddings} embeddings, "
        f"{stats.lm_scored} scored by the model, {stats.lm_skipped} without model metrics; {pending} still waiting.",
        highlight=False,
    )


def _enrich_batch(ctx: typer.Context, settings: Any, *, limit: int | None, batch_size: int, model: str | None,
                  embeddings: bool, lm_metrics: bool, as_json: bool, **options: Any) -> None:  # fmt: skip
    """``enrich --backend ray``: the waiting records as a batch job; results go into the store here."""
    import time

    from pellucid.batch.enrich_task import EnrichTask
    from pellucid.monitor.enrich import all_waiting, pending, write_enrichment

    started = time.perf_counter()
    with open_store(ctx) as store:
        records = all_waiting(store, limit)
        totals = {"records": 0, "embeddings": 0, "lm_scored": 0, "lm_skipped": 0}

        def write(_block: int, rows: list[dict[str, Any]]) -> None:
            for row in rows:
                write_enrichment(store, row["vectors"], row["values"])
                for key in ("records", "lm_scored", "lm_skipped"):
                    totals[key] += int(row[key])
                totals["embeddings"] += len(row["vectors"])

        if records:
            task = EnrichTask(settings=settings, model=model, embeddings=embeddings, lm_metrics=lm_metrics)
            run_batch(task, [{"row": i, "record": r} for i, r in enumerate(records)], out=None, on_rows=write,
                      block_size=batch_size, quiet=as_json, label=f"enriching × {len(records)}", **options)  # fmt: skip
        waiting = pending(store)
    seconds = time.perf_counter() - started
    data = {**totals, "seconds": round(seconds, 3), "records_per_second": round(totals["records"] / seconds, 2),
            "pending": waiting, "backend": options["backend"]}  # fmt: skip
    if as_json:
        print_json(data)
        return
    console.print(
        f"Enriched {totals['records']} records on {options['backend']} ({data['records_per_second']:.1f}/s): "
        f"{totals['embeddings']} embeddings, {totals['lm_scored']} scored by the model; {waiting} still waiting.",
        highlight=False,
    )


# -- drift ------------------------------------------------------------------------------
def print_drift(report: dict[str, Any]) -> None:
    """A drift report as a table plus its verdicts."""
    params = report.get("params", {})
    ref, cur = params.get("reference", {}), params.get("current", {})
    table = Table(title=f"Drift: {cur.get('window', '?')} vs reference {ref.get('window', '?')}")
    for column in ("feature", "test", "statistic", "p-value", "threshold", "drift"):
        table.add_column(column)
    for r in report["results"]:
        flag = "[bold red]yes[/]" if r["drifted"] else "[green]no[/]"
        table.add_row(r["feature"], r["detector"], _fmt(r["statistic"]), _fmt(r["p_value"]), _fmt(r["threshold"]), flag)
    console.print(table)
    for r in report["results"]:
        if r["drifted"]:
            console.print(f"• {r['verdict']}", highlight=False)
    for what, why in params.get("skipped", {}).items():
        err_console.print(f"[yellow]not tested[/] {what}: {why}", highlight=False)
    console.print(f"[bold]{report['verdict']}[/]", highlight=False)


DriftReferenceOption = typer.Option(..., "--reference", "-r", help="Reference window: last:30d, version:v1, dates...")
DriftCurrentOption = typer.Option(..., "--current", "-c", help="Current window, same forms.")
DriftMetricsOption = typer.Option(
    None, "--metrics", help="Scalars to test (default: lengths, latency, tokens, perplexity, entropy, toxicity)."
)
DriftEmbeddingsOption = typer.Option("prompt,response", "--embeddings", help="Embedding fields to test ('' for none).")
DriftLayerOption = typer.Option(None, "--layer", help="Also test the model's hidden states at this layer.")
DriftFeaturesOption = typer.Option(
    None, "--features", help="Also test how often each feature of this dictionary folder fires in the prompts."
)
DriftMaxPromptsOption = typer.Option(100, "--max-prompts", min=10, help="Prompts per window for --layer.")
DriftAlphaOption = typer.Option(0.05, "--alpha", help="Significance level of the tests.")
DriftPermutationsOption = typer.Option(500, "--permutations", min=10, help="MMD permutations.")
DriftSaveOption = typer.Option(True, "--save/--no-save", metavar="", help="Store the report for the web view.")
DriftNameOption = typer.Option(None, "--name", help="Name of the saved report.")


@app.command("drift")
@handle_errors
def drift(
    ctx: typer.Context,
    reference: str = DriftReferenceOption,
    current: str = DriftCurrentOption,
    metrics: str | None = DriftMetricsOption,
    embeddings: str = DriftEmbeddingsOption,
    layer: int | None = DriftLayerOption,
    features: Path | None = DriftFeaturesOption,
    model: str | None = ModelOption,
    max_prompts: int = DriftMaxPromptsOption,
    alpha: float = DriftAlphaOption,
    permutations: int = DriftPermutationsOption,
    save: bool = DriftSaveOption,
    name: str | None = DriftNameOption,
    as_json: bool = JsonOption,
) -> None:
    """Is the current window of traffic different from the reference window?"""
    from pellucid.service.drift import drift_report

    lm = _drift_lm(settings_from(ctx), model, layer, features, as_json)
    scalar_names = None if metrics is None else [m.strip() for m in metrics.split(",") if m.strip()]
    with open_store(ctx) as store:
        with _progress("hidden states", as_json or (layer is None and features is None)) as progress:
            report, saved = drift_report(
                store, reference, current, save=save, name=name, metrics=scalar_names,
                embeddings=[e.strip() for e in embeddings.split(",") if e.strip()], layer=layer, features=features,
                lm=lm, max_prompts=max_prompts, alpha=alpha, n_permutations=permutations, progress=progress,
            )  # fmt: skip
        data = report.to_dict()
        if saved is not None:
            data["id"] = saved.id
    if as_json:
        print_json(data)
        return
    print_drift(data)
    if save:
        console.print(f"saved as drift report {data['id']}", style="dim", highlight=False)


def _drift_lm(
    settings: Settings, model: str | None, layer: int | None, features: Path | None, as_json: bool
) -> LM | None:
    """The model whose hidden states or features are tested (``None`` when neither is asked for).

    A features folder is checked before the model loads.
    """
    if features is not None:
        from pellucid.service.feature_explain import check_folder

        check_folder(features)  # before the model loads
    if layer is None and features is None:
        return None
    from pellucid.cli.common import load_lm

    return load_lm(model, settings, quiet=as_json)


# -- feedback correlation ---------------------------------------------------------------
@app.command("correlate")
@handle_errors
def correlate(
    ctx: typer.Context,
    metric: str = typer.Argument(..., help="A per-record metric: perplexity, latency_ms, response_chars..."),
    window: str | None = WindowOption,
    as_json: bool = JsonOption,
) -> None:
    """Spearman correlation between METRIC and human feedback (thumbs, scores)."""
    from pellucid.monitor.correlate import correlate as _correlate
    from pellucid.monitor.windows import parse_window

    with open_store(ctx) as store:
        result = _correlate(store, metric, parse_window(window) if window else None)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(result.verdict, highlight=False)


# -- projection -------------------------------------------------------------------------
@app.command("project")
@handle_errors
def project(
    ctx: typer.Context,
    window: str | None = WindowOption,
    method: str = typer.Option("pca", "--method", help="pca, or umap (needs umap-learn)."),
    clusters: int = typer.Option(8, "--clusters", min=1, help="KMeans clusters."),
    field: str = typer.Option("prompt", "--field", help="prompt or response embeddings."),
    as_json: bool = JsonOption,
) -> None:
    """2-D map of the stored embeddings with clusters (the projector's data)."""
    from collections import Counter

    from pellucid.monitor.projection import projection
    from pellucid.monitor.windows import parse_window

    with open_store(ctx) as store:
        result = projection(
            store, parse_window(window) if window else None, method=method, clusters=clusters, field=field
        )
    data = result.to_dict()
    if as_json:
        print_json(data)
        return
    sizes = Counter(p["cluster"] for p in data["points"])
    table = Table(title=f"{len(result.ids)} {field} embeddings, {method}, {clusters} clusters")
    table.add_column("cluster")
    table.add_column("records", justify="right")
    table.add_column("example")
    for cluster, size in sorted(sizes.items()):
        example = next(p.get("text", "") for p in data["points"] if p["cluster"] == cluster)
        table.add_row(str(cluster), str(size), example[:80])
    console.print(table)


# -- privacy ----------------------------------------------------------------------------
@app.command("purge")
@handle_errors
def purge(
    ctx: typer.Context,
    user_id: str | None = typer.Option(None, "--user-id", help="Delete every record of this user, and their feedback."),
    before: str | None = typer.Option(None, "--before", help="Delete records created before this UTC date/time."),
    as_json: bool = JsonOption,
) -> None:
    """Delete records (with their tags, feedback, metrics and embeddings) by user and/or age."""
    from datetime import UTC, datetime

    from pellucid.errors import InvalidInputError

    cutoff = None
    if before is not None:
        try:
            cutoff = datetime.fromisoformat(before)
        except ValueError:
            raise InvalidInputError(f"--before {before!r} is not a date; use 2026-11-01 or 2026-11-01T12:00.") from None
        cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    with open_store(ctx) as store:
        deleted = store.repo.purge(user_id=user_id, before=cutoff)
    if as_json:
        print_json({"deleted_records": deleted})
        return
    console.print(f"Deleted {deleted} records (and their tags, feedback, metrics and embeddings).")


def _register_records() -> None:
    from pellucid.cli.monitor_records_cmd import records

    app.command("records")(records)


_register_records()
