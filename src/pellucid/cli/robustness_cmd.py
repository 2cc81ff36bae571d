"""``pellucid robustness``: flip rates of a data set's answers under edits, per generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from pellucid.cli.batch_options import (
    ActorsOption,
    AddressOption,
    BackendOption,
    BlockOption,
    CpusOption,
    GpusOption,
    OverwriteOption,
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
    model_pool,
    print_json,
    settings_from,
)
from pellucid.cli.params import parse_params, unescape
from pellucid.cli.progress import progress


def _generator_params(pairs: list[str], names: list[str]) -> dict[str, dict[str, str]]:
    """``["typos.rate=0.2"]`` -> ``{"typos": {"rate": "0.2"}}``."""
    out: dict[str, dict[str, str]] = {}
    for key, value in parse_params(pairs, example="typos.rate=0.2").items():
        if "." not in key:
            raise fail(f"--param {key}={value}: name the generator too, e.g. --param typos.{key}={value}.")
        gen, name = key.split(".", 1)
        if gen not in names:
            raise fail(f"--param {key}: generator {gen!r} is not in --generators ({', '.join(names)}).")
        out.setdefault(gen, {})[name] = value
    return out


DataOption = typer.Option(..., "--data", "-d", help="A .tsv, .csv or .jsonl file of examples.")
GeneratorsOption = typer.Option("typos,synonyms,drop_word", "--generators", "-g", help="Comma-separated generators.")
TaskOption = typer.Option("classify", help="classify (answer options) or generate (free text).")
OptionsOption = typer.Option(None, help="Answer options, comma-separated, spaces kept: ' negative, positive'.")
TemplateOption = typer.Option("{text}", help="Prompt template with {text}, e.g. 'Review: {text}\\nSentiment:'.")
TextColumnOption = typer.Option("text", "--text-column", help="Column holding the text.")
LabelColumnOption = typer.Option("label", "--label-column", help="Column holding the label (optional).")
NoLabelsOption = typer.Option(
    False, "--no-labels", metavar="", help="Ignore labels (targets are the original answers)."
)
LimitOption = typer.Option(None, "--limit", "-n", min=1, help="Use the first N non-empty examples.")
ParamOption = typer.Option([], "--param", "-p", help="generator.name=value, e.g. typos.rate=0.2 (repeatable).")
SystemOption = typer.Option(None, help="A system message (chat models).")
SeedOption = typer.Option(0, help="Seed of the generators.")
MaxNewTokensOption = typer.Option(16, "--max-new-tokens", min=1, help="Answer length (task=generate).")
WorstOption = typer.Option(5, "--worst", min=0, help="Worst edits shown per generator.")
HtmlOption = typer.Option(None, "--html", help="Write a standalone HTML report (works offline).")
OutOption = typer.Option(
    None, "--out", help="Write every edit's row here (.parquet or .jsonl), block by block (resumable)."
)


@handle_errors
def robustness(
    ctx: typer.Context, data: Path = DataOption, generators: str = GeneratorsOption, task: str = TaskOption,
    options: str | None = OptionsOption, template: str = TemplateOption, text_column: str = TextColumnOption,
    label_column: str = LabelColumnOption, no_labels: bool = NoLabelsOption, limit: int | None = LimitOption,
    param: list[str] = ParamOption, model: str | None = ModelOption, raw: bool = RawOption,
    system: str | None = SystemOption, seed: int = SeedOption, max_new_tokens: int = MaxNewTokensOption,
    worst: int = WorstOption, html: Path | None = HtmlOption, as_json: bool = JsonOption,
    out: Path | None = OutOption, backend: str = BackendOption, address: str | None = AddressOption,
    actors: int | None = ActorsOption, cpus_per_actor: float = CpusOption, gpus_per_actor: float = GpusOption,
    block_size: int = BlockOption, overwrite: bool = OverwriteOption,
) -> None:  # fmt: skip
    """Measure how often edits of each example flip the model's answer, per generator (with 95 % intervals).

    With --out (and optionally --backend ray), the examples run in blocks on this machine or a Ray
    cluster; every edit's row is written to the file and the report is computed from all rows.
    """
    from pellucid.counterfactual.dataset import load_dataset
    from pellucid.service.counterfactual import robustness as run_robustness

    config = _config(generators, task, options, template, raw, system, param, seed, max_new_tokens, worst)
    dataset = load_dataset(data, text_column=text_column, label_column=None if no_labels else label_column, limit=limit)
    if dataset.skipped_empty:
        err_console.print(f"[yellow]skipped {dataset.skipped_empty} empty rows[/]")
    settings = settings_from(ctx)
    if out is not None or backend != "local":
        report = _run_blocks(
            settings, config, dataset.examples, dataset.skipped_empty, model=model, out=out, backend=backend,
            address=address, actors=actors, cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor,
            block_size=block_size, overwrite=overwrite, quiet=as_json,
        )  # fmt: skip
        _finish(report, html, as_json)
        return
    lm = load_lm(model, settings, quiet=as_json)
    with progress(as_json) as shown:
        report = run_robustness(
            lm, dataset.examples, config, pool=model_pool(settings, lm), skipped_empty=dataset.skipped_empty,
            progress=shown.update,
        )  # fmt: skip
    _finish(report, html, as_json)


def _config(
    generators: str, task: str, options: str | None, template: str, raw: bool, system: str | None,
    param: list[str], seed: int, max_new_tokens: int, worst: int,
) -> Any:  # fmt: skip
    """The checked :class:`~pellucid.counterfactual.robustness.RobustnessConfig` of the options."""
    from pellucid.counterfactual.registry import parse_generator_list
    from pellucid.counterfactual.robustness import RobustnessConfig

    names = parse_generator_list(generators)
    # options are split on commas; "\n" typed in a shell arrives as two characters
    opts = unescape(options).split(",") if options else None
    config = RobustnessConfig(
        generators=names, task=task, options=opts, template=unescape(template), chat=False if raw else None,
        system=system, params=_generator_params(param, names), seed=seed, max_new_tokens=max_new_tokens,
        worst_k=worst,
    )  # fmt: skip
    config.check()
    return config


def _run_blocks(
    settings: Any, config: Any, examples: list[Any], skipped_empty: int, *, model: str | None, out: Path | None,
    quiet: bool, **options: Any,
) -> Any:  # fmt: skip
    """The data set as a batch job (local blocks or Ray); the report from every edit's row."""
    import time

    from pellucid.batch import read_results
    from pellucid.batch.robustness_task import RobustnessTask, items_of
    from pellucid.counterfactual.robustness import check_labels, summarise_rows

    check_labels(examples, config)
    items = items_of(examples)
    if not items:
        raise fail("Every example's text is empty; give a data set with text in it.")
    skipped_empty += len(examples) - len(items)
    collected: dict[int, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    task = RobustnessTask(settings=settings, model=model, config=config)
    run_batch(task, items, out=out, quiet=quiet, label=f"robustness × {len(items)} examples",
              on_rows=None if out is not None else lambda block, rows: collected.__setitem__(block, rows),
              **options)  # fmt: skip
    rows = read_results(out) if out is not None else [r for b in sorted(collected) for r in collected[b]]
    return summarise_rows(rows, config, model=task.model_name(), skipped_empty=skipped_empty,
                          seconds=time.perf_counter() - started)  # fmt: skip


def _finish(report: Any, html: Path | None, as_json: bool) -> None:
    if html is not None:
        from pellucid.counterfactual.report_html import robustness_page

        html.write_text(robustness_page(report), encoding="utf-8")
        err_console.print(f"wrote {html}")
    if as_json:
        print_json(report.to_dict())
        return
    _print(report)


def _print(report: object) -> None:
    from pellucid.counterfactual.robustness import RobustnessReport

    assert isinstance(report, RobustnessReport)
    head = f"{report.model} · {report.task} · {report.n_examples} examples"
    if report.skipped_empty:
        head += f" ({report.skipped_empty} empty skipped)"
    if report.accuracy_before is not None:
        head += f" · accuracy {report.accuracy_before:.3f}"
    console.print(f"[bold]{head}[/] · {report.seconds:.1f} s", highlight=False)
    for warning in report.meta.get("warnings", []):
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    table = Table(title="Robustness per generator")
    for col in ("generator", "edits", "n/a", "flip rate", "95% CI", "ex. flipped", "Δ log p", "accuracy"):
        table.add_column(col, justify="left" if col == "generator" else "right", no_wrap=True)
    for name, s in report.generators.items():
        acc = f"{s['accuracy_before']:.2f}→{s['accuracy_after']:.2f}" if "accuracy_after" in s else "—"
        lo, hi = s["flip_rate_ci95"]
        table.add_row(
            name,
            str(s["edits"]),
            str(s["not_applicable"]),
            f"{s['flip_rate']:.3f}",
            f"{lo:.2f}–{hi:.2f}",
            f"{s['example_flip_rate']:.3f}",
            f"{s['mean_delta_logprob']:+.3f}",
            acc,
        )
    console.print(table)
    for name, rows in report.worst.items():
        rows = [r for r in rows if r["flipped"] or r["delta_logprob"] != 0.0]  # identity edits show nothing
        if not rows:
            continue
        t = Table(title=f"worst edits · {name}", title_justify="left")
        for col in ("row", "edit", "edited text", "answer", "Δ log p"):
            t.add_column(col, overflow="fold")
        for r in rows:
            answer = f"{r['answer_before']!r} → {r['answer_after']!r}" + (" [red]flip[/]" if r["flipped"] else "")
            t.add_row(str(r["row"]), r["edit"], r["edited"], answer, f"{r['delta_logprob']:+.3f}")
        console.print(t)
