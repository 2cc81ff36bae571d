"""``pellucid explain`` and ``pellucid methods``: attributions for every target token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pellucid import service
from pellucid.cli.batch_options import (
    ActorsOption,
    AddressOption,
    BackendOption,
    BlockOption,
    CpusOption,
    GpusOption,
    OverwriteOption,
    check_backend,
    run_batch,
)
from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    RawOption,
    console,
    err_console,
    fail,
    handle_errors,
    load_lm,
    print_json,
    settings_from,
)
from pellucid.cli.params import parse_params, unescape
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.types import Explanation


@handle_errors
def explain(
    ctx: typer.Context,
    prompt: str | None = typer.Argument(None, help="The user's message (or raw text with --raw); omit with --dataset."),
    target: str | None = typer.Option(None, "--target", "-t", help="Text to explain; default: the model's own answer."),
    method: str = typer.Option("occlusion", "--method", help="Attribution method (see `pellucid methods`)."),
    foil: str | None = typer.Option(None, help="Contrast: explain target versus this text (log-prob difference)."),
    target_kind: str = typer.Option("logprob", "--target-kind", help="logprob, prob or logit."),
    granularity: str = typer.Option("word", help="token, word, sentence or segment."),
    segments: str = typer.Option("user", help="Comma-separated segments to attribute (user, system, assistant)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Method parameter name=value (repeatable)."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    system: str | None = typer.Option(None, help="A system message (chat models)."),
    max_new_tokens: int = typer.Option(32, "--max-new-tokens", min=1, help="Answer length when no --target."),
    seed: int = typer.Option(0, help="Seed for sampling methods (lime, kernel_shap)."),
    as_json: bool = JsonOption,
    html: Path | None = typer.Option(None, "--html", help="Write a standalone HTML page (works offline)."),
    record: str | None = typer.Option(
        None, "--record", help="Explain a logged call: its prompt, on its model, with its response as the target."
    ),
    dataset: Path | None = typer.Option(
        None, "--dataset", help="Explain every prompt of a JSONL/CSV/TSV file (prompt[,target] or text[,label])."
    ),
    template: str | None = typer.Option(
        None, "--template", help="With --dataset: template with {text}; \\n and \\t mean a new line and a tab."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="With --dataset: the first N prompts."),
    out: Path | None = typer.Option(None, "--out", help="With --dataset: results file (.parquet or .jsonl)."),
    backend: str = BackendOption,
    address: str | None = AddressOption,
    actors: int | None = ActorsOption,
    cpus_per_actor: float = CpusOption,
    gpus_per_actor: float = GpusOption,
    block_size: int = BlockOption,
    overwrite: bool = OverwriteOption,
) -> None:
    """Explain which parts of PROMPT made the model produce the target, token by token.

    With --dataset FILE --out results.parquet, explain every prompt of the file (in blocks,
    resumable: run the same command again after a failure) on this machine or, with
    --backend ray, on a Ray cluster.
    """
    settings = settings_from(ctx)
    if dataset is not None:
        if prompt is not None or record is not None or target is not None or html is not None:
            raise fail(
                "--dataset explains the file's prompts (and targets): drop PROMPT, --record, --target and --html."
            )
        _explain_dataset(
            settings, dataset, template=template, limit=limit, out=out, as_json=as_json, model=model, method=method,
            params=parse_params(param), raw=raw, system=system, foil=foil, target_kind=target_kind,
            granularity=granularity, segments=tuple(s.strip() for s in segments.split(",") if s.strip()),
            max_new_tokens=max_new_tokens, seed=seed, backend=backend, address=address, actors=actors,
            cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor, block_size=block_size, overwrite=overwrite,
        )  # fmt: skip
        return
    if out is not None or template is not None or limit is not None or backend != "local":
        raise fail("--out, --template, --limit and --backend go with --dataset FILE.")
    if (prompt is None) == (record is None):
        raise fail("Give a PROMPT, --record ID (a logged call) or --dataset FILE to explain; not both.")
    chosen = tuple(s.strip() for s in segments.split(",") if s.strip())
    params = parse_params(param)
    service.check_explain(method, params, target_kind=target_kind, granularity=granularity, segments=chosen)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), TimeRemainingColumn())
    if record is not None:
        if target is not None or raw or system is not None:
            raise fail("--record explains the logged call as it was: drop --target, --raw and --system.")
        ex = _explain_record(
            settings,
            record,
            model,
            method,
            as_json,
            columns,
            foil=foil,
            target_kind=target_kind,
            granularity=granularity,
            seed=seed,
            segments=chosen,
            **params,
        )
        _render(ex, html, as_json)
        return
    assert prompt is not None
    lm = load_lm(model, settings, quiet=as_json)
    with Progress(*columns, console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{method}", total=None)
        ex = service.explain(
            lm,
            prompt,
            target=target,
            method=method,
            raw=raw,
            system=system,
            foil=foil,
            target_kind=target_kind,
            granularity=granularity,
            segments=chosen,
            max_new_tokens=max_new_tokens,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **params,
        )
    _render(ex, html, as_json)


def _explain_dataset(
    settings: Settings, dataset: Path, *, template: str | None, limit: int | None, out: Path | None, as_json: bool,
    model: str | None, method: str, params: dict[str, str], backend: str, address: str | None, actors: int | None,
    cpus_per_actor: float, gpus_per_actor: float, block_size: int, overwrite: bool, **task_params: Any,
) -> None:  # fmt: skip
    """``--dataset``: one result row per prompt of the file, written block by block to ``out``."""
    from pellucid.attribution import get_method
    from pellucid.attribution.faithfulness import load_prompts
    from pellucid.batch import ExplainTask, read_results

    if out is None:
        raise fail("--dataset needs --out results.parquet (or .jsonl): the rows go there, block by block.")
    check_backend(backend, address)
    get_method(method).resolve_params(params)  # an unknown method or parameter fails before any work
    data = load_prompts(dataset, template=unescape(template) if template else None, limit=limit)
    if data.skipped:
        err_console.print(f"skipped {data.skipped} empty prompt(s) in {dataset.name}")
    if not data.prompts:
        raise fail(f"{dataset} has no usable prompts.")
    items = [{"row": i, "prompt": p, "target": t} for i, (p, t) in enumerate(zip(data.prompts, data.targets))]
    task = ExplainTask(settings=settings, model=model, method=method, params=params, **task_params)
    report = run_batch(
        task, items, out=out, backend=backend, address=address, actors=actors, cpus_per_actor=cpus_per_actor,
        gpus_per_actor=gpus_per_actor, block_size=block_size, overwrite=overwrite, quiet=as_json,
        label=f"{method} × {len(items)} prompts",
    )  # fmt: skip
    rows = read_results(out)
    errors = [r for r in rows if r.get("error")]
    if as_json:
        print_json({**report.to_dict(), "errors": len(errors)})
        return
    table = Table(title=f"{method} on {dataset.name}: {len(rows)} rows in {out}")
    for column in ("row", "explained", "top words", "error"):
        table.add_column(column, overflow="fold")
    for r in rows[:10]:
        top = ", ".join(json.loads(r["top"])) if r.get("top") else ""
        table.add_row(str(r["row"]), str(r.get("explained") or ""), top, str(r.get("error") or ""))
    console.print(table)
    if len(rows) > 10:
        console.print(f"… {len(rows) - 10} more rows in {out}")
    if errors:
        err_console.print(f"[yellow]{len(errors)} prompt(s) could not be explained; see the error column[/]")


def _explain_record(
    settings: Settings,
    record_id: str,
    model: str | None,
    method: str,
    as_json: bool,
    columns: tuple[Any, ...],
    **params: Any,
) -> Explanation:
    """``--record ID``: load the logged call's model (with a spinner), then attribute its response."""
    from pellucid.monitor import Store

    with Store.open(settings=settings, create=False) as store:
        logged = store.repo.get_record(record_id)
        name = model or logged.model or settings.default_model
        pool = service.ModelPool(settings)
        pool.add(load_lm(name, settings, quiet=as_json), name=name)
        with Progress(*columns, console=err_console, transient=True, disable=as_json) as bar:
            task = bar.add_task(f"{method}", total=None)
            progress = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
            return service.records.explain_record(
                pool, store, record_id, method, model=name, progress=progress, **params
            )


def _render(ex: Explanation, html: Path | None, as_json: bool) -> None:
    if html is not None:
        from pellucid.render.html import explanation_page

        html.write_text(explanation_page(ex), encoding="utf-8")
        err_console.print(f"wrote {html}")
    note = ex.meta.get("target_note") or ex.meta.get("explained_note")
    if note:
        err_console.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False)
    if as_json:
        print_json(ex.to_dict())
        return
    from pellucid.render.terminal import print_explanation

    if ex.meta.get("generated"):
        console.print(f"[bold]Answer:[/] {ex.meta['target_text']}", highlight=False)
    print_explanation(ex, console)


@handle_errors
def methods(as_json: bool = JsonOption) -> None:
    """List the attribution methods with their parameters and defaults."""
    described = service.list_methods()
    if as_json:
        print_json(described)
        return
    table = Table(title="Attribution methods")
    table.add_column("method", style="bold")
    table.add_column("description")
    table.add_column("parameters (default)")
    for m in described:
        params = ", ".join(f"{p['name']}={p['default']}" for p in m["params"]) or "—"
        table.add_row(m["name"], m["description"], params)
    console.print(table)
