"""``pellucid explain`` and ``pellucid methods``: attributions for every target token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
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
from pellucid.cli.progress import progress
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.types import Explanation


PromptArgument = typer.Argument(None, help="The user's message (or raw text with --raw); omit with --dataset.")
TargetOption = typer.Option(None, "--target", "-t", help="Text to explain; default: the model's own answer.")
MethodOption = typer.Option("occlusion", "--method", help="Attribution method (see `pellucid methods`).")
FoilOption = typer.Option(None, help="Contrast: explain target versus this text (log-prob difference).")
TargetKindOption = typer.Option("logprob", "--target-kind", help="logprob, prob or logit.")
GranularityOption = typer.Option("word", help="token, word, sentence or segment.")
SegmentsOption = typer.Option("user", help="Comma-separated segments to attribute (user, system, assistant).")
ParamOption = typer.Option([], "--param", "-p", help="Method parameter name=value (repeatable).")
SystemOption = typer.Option(None, help="A system message (chat models).")
MaxNewTokensOption = typer.Option(32, "--max-new-tokens", min=1, help="Answer length when no --target.")
SeedOption = typer.Option(0, help="Seed for sampling methods (lime, kernel_shap).")
HtmlOption = typer.Option(None, "--html", help="Write a standalone HTML page (works offline).")
RecordOption = typer.Option(
    None, "--record", help="Explain a logged call: its prompt, on its model, with its response as the target."
)
DatasetOption = typer.Option(
    None, "--dataset", help="Explain every prompt of a JSONL/CSV/TSV file (prompt[,target] or text[,label])."
)
TemplateOption = typer.Option(
    None,
    "--template",
    help="With --dataset: where a row's text goes, with {text}; \\n and \\t mean a new line and a tab "
    "(default for text rows: 'Review: {text}\\nIs this review positive or negative? Answer:').",
)
AttributeTemplateOption = typer.Option(
    False,
    "--attribute-template",
    metavar="",
    help="With --dataset: attribute the template's words too, not only the row's.",
)
LimitOption = typer.Option(None, "--limit", min=1, help="With --dataset: the first N prompts.")
OutOption = typer.Option(None, "--out", help="With --dataset: results file (.parquet or .jsonl).")
FeaturesOption = typer.Option(
    None, "--features", help="Attribute the target to this dictionary's features instead of the prompt's tokens."
)


@handle_errors
def explain(
    ctx: typer.Context, prompt: str | None = PromptArgument, target: str | None = TargetOption,
    method: str = MethodOption, foil: str | None = FoilOption, target_kind: str = TargetKindOption,
    granularity: str = GranularityOption, segments: str = SegmentsOption, param: list[str] = ParamOption,
    model: str | None = ModelOption, raw: bool = RawOption, system: str | None = SystemOption,
    max_new_tokens: int = MaxNewTokensOption, seed: int = SeedOption, as_json: bool = JsonOption,
    html: Path | None = HtmlOption, record: str | None = RecordOption, dataset: Path | None = DatasetOption,
    template: str | None = TemplateOption, attribute_template: bool = AttributeTemplateOption,
    limit: int | None = LimitOption, out: Path | None = OutOption, backend: str = BackendOption,
    address: str | None = AddressOption, actors: int | None = ActorsOption, cpus_per_actor: float = CpusOption,
    gpus_per_actor: float = GpusOption, block_size: int = BlockOption, overwrite: bool = OverwriteOption,
    features: Path | None = FeaturesOption,
) -> None:  # fmt: skip
    """Explain which parts of PROMPT made the model produce the target, token by token.

    With --dataset FILE --out results.parquet, explain every prompt of the file (in blocks,
    resumable: run the same command again after a failure) on this machine or, with
    --backend ray, on a Ray cluster. Rows with a text column are put into --template (printed
    when used), and only the row's own text is attributed unless --attribute-template is given.
    """
    if features is not None:
        _explain_features(ctx, prompt, target, features, model=model, raw=raw, as_json=as_json)
        return
    settings = settings_from(ctx)
    chosen = tuple(s.strip() for s in segments.split(",") if s.strip())
    params = parse_params(param)
    common: dict[str, Any] = {
        "foil": foil, "target_kind": target_kind, "granularity": granularity, "segments": chosen, "seed": seed,
    }  # fmt: skip
    if dataset is not None:
        if prompt is not None or record is not None or target is not None or html is not None:
            raise fail(
                "--dataset explains the file's prompts (and targets): drop PROMPT, --record, --target and --html."
            )
        job = _Job(out=out, backend=backend, address=address, actors=actors, cpus_per_actor=cpus_per_actor,
                   gpus_per_actor=gpus_per_actor, block_size=block_size, overwrite=overwrite)  # fmt: skip
        _explain_dataset(
            settings, dataset, job, template=template, whole=attribute_template, limit=limit, as_json=as_json,
            model=model, method=method, params=params, raw=raw, system=system, max_new_tokens=max_new_tokens,
            **common,
        )  # fmt: skip
        return
    if out is not None or template is not None or limit is not None or backend != "local" or attribute_template:
        raise fail("--out, --template, --attribute-template, --limit and --backend go with --dataset FILE.")
    ex = _explain_one(settings, prompt, record, target=target, method=method, params=params, model=model, raw=raw,
                      system=system, max_new_tokens=max_new_tokens, as_json=as_json, common=common)  # fmt: skip
    _render(ex, html, as_json)


def _explain_one(
    settings: Settings, prompt: str | None, record: str | None, *, target: str | None, method: str,
    params: dict[str, str], model: str | None, raw: bool, system: str | None, max_new_tokens: int, as_json: bool,
    common: dict[str, Any],
) -> Explanation:  # fmt: skip
    """One explanation: of PROMPT, or of a logged call's response with ``--record``."""
    if (prompt is None) == (record is None):
        raise fail("Give a PROMPT, --record ID (a logged call) or --dataset FILE to explain; not both.")
    service.check_explain(method, params, target_kind=common["target_kind"], granularity=common["granularity"],
                          segments=common["segments"])  # fmt: skip
    if record is not None:
        if target is not None or raw or system is not None:
            raise fail("--record explains the logged call as it was: drop --target, --raw and --system.")
        return _explain_record(settings, record, model, method, as_json, **common, **params)
    assert prompt is not None
    lm = load_lm(model, settings, quiet=as_json)
    with progress(as_json) as shown:
        return service.explain(
            lm, prompt, target=target, method=method, raw=raw, system=system, max_new_tokens=max_new_tokens,
            progress=shown.callback(f"{method}: perturbed prompts"), **common, **params,
        )  # fmt: skip


def _explain_features(
    ctx: typer.Context, prompt: str | None, target: str | None, folder: Path, *, model: str | None, raw: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """``explain PROMPT --target T --features DIR``: the target split over the dictionary's features."""
    from pellucid.cli.features_explain_cmd import explain_with_features

    if prompt is None or target is None:
        raise fail("--features explains one PROMPT with its --target (e.g. --target ' Paris'); give both.")
    explain_with_features(ctx, prompt, target, folder, model=model, raw=raw, verify=5, top=10, as_json=as_json)


@dataclass(frozen=True)
class _Job:
    """Where and how a data-set job runs (the options every data-set command shares)."""

    out: Path | None
    backend: str
    address: str | None
    actors: int | None
    cpus_per_actor: float
    gpus_per_actor: float
    block_size: int
    overwrite: bool


def _explain_dataset(
    settings: Settings, dataset: Path, job: _Job, *, template: str | None, whole: bool, limit: int | None,
    as_json: bool, model: str | None, method: str, params: dict[str, str], **task_params: Any,
) -> None:  # fmt: skip
    """``--dataset``: one result row per prompt of the file, written block by block to ``out``."""
    from pellucid.attribution import get_method
    from pellucid.batch import ExplainTask, read_results

    if job.out is None:
        raise fail("--dataset needs --out results.parquet (or .jsonl): the rows go there, block by block.")
    check_backend(job.backend, job.address)
    get_method(method).resolve_params(params)  # an unknown method or parameter fails before any work
    items, used = _dataset_items(dataset, template, limit, whole)
    if used is not None and not as_json:
        scope = "every word, the template's too" if whole else "only the row's text"
        err_console.print(
            f"template: {used!r} (attributed: {scope}; change it with --template)", markup=False, highlight=False
        )
    task = ExplainTask(settings=settings, model=model, method=method, params=params, **task_params)
    report = run_batch(
        task, items, out=job.out, backend=job.backend, address=job.address, actors=job.actors,
        cpus_per_actor=job.cpus_per_actor, gpus_per_actor=job.gpus_per_actor, block_size=job.block_size,
        overwrite=job.overwrite, quiet=as_json, label=f"{method} × {len(items)} prompts",
    )  # fmt: skip
    rows = read_results(job.out)
    if as_json:
        errors = sum(1 for r in rows if r.get("error"))
        print_json({**report.to_dict(), "errors": errors, "template": used, "template_attributed": whole})
        return
    _print_rows(rows, f"{method} on {dataset.name}: {len(rows)} rows in {job.out}", job.out)


def _dataset_items(
    dataset: Path, template: str | None, limit: int | None, whole: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """The file's prompts as job items (rows numbered from 1, as in ``robustness``), each text row with
    the span of its own text unless ``whole``; and the template the text rows went into."""
    from pellucid.attribution.faithfulness import load_prompts

    data = load_prompts(dataset, template=unescape(template) if template else None, limit=limit)
    if data.skipped:
        err_console.print(f"skipped {data.skipped} empty prompt(s) in {dataset.name}")
    if not data.prompts:
        raise fail(f"{dataset} has no usable prompts.")
    items = [
        {"row": row, "prompt": p, "target": t, **({"span": span} if span is not None and not whole else {})}
        for row, p, t, span in zip(data.rows, data.prompts, data.targets, data.spans)
    ]
    return items, data.template


def _print_rows(rows: list[dict[str, Any]], title: str, out: Path) -> None:
    """The first ten result rows as a table, and how many could not be explained."""
    table = Table(title=title)
    for column in ("row", "explained", "top words", "error"):
        table.add_column(column, overflow="fold")
    for r in rows[:10]:
        top = ", ".join(json.loads(r["top"])) if r.get("top") else ""
        table.add_row(str(r["row"]), str(r.get("explained") or ""), top, str(r.get("error") or ""))
    console.print(table)
    if len(rows) > 10:
        console.print(f"… {len(rows) - 10} more rows in {out}")
    errors = sum(1 for r in rows if r.get("error"))
    if errors:
        err_console.print(f"[yellow]{errors} prompt(s) could not be explained; see the error column[/]")


def _explain_record(
    settings: Settings, record_id: str, model: str | None, method: str, as_json: bool, **params: Any
) -> Explanation:
    """``--record ID``: load the logged call's model (with a spinner), then attribute its response."""
    from pellucid.monitor import Store

    with Store.open(settings=settings, create=False) as store:
        logged = store.repo.get_record(record_id)
        name = model or logged.model or settings.default_model
        pool = service.ModelPool(settings)
        pool.add(load_lm(name, settings, quiet=as_json), name=name)
        with progress(as_json) as shown:
            callback = shown.callback(f"{method}: perturbed prompts")
            return service.records.explain_record(
                pool, store, record_id, method, model=name, progress=callback, **params
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
