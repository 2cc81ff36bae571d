"""``pellucid faithfulness``: how faithful is an attribution? One prompt, or a data set of them.

One prompt: explain it with ``--method`` and print ERASER comprehensiveness (↑) and
sufficiency (↓) at each level, and deletion (↑) / insertion (↓) AOPC against random orders.
``--dataset FILE`` runs every method of ``--methods`` over a JSONL/CSV/TSV file and prints (or
writes with ``--out``) one row per method, each figure averaged over the prompts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

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
from pellucid.cli.params import unescape
from pellucid.cli.progress import progress

if TYPE_CHECKING:
    import pandas as pd

    from pellucid.settings import Settings

_SHORT = {
    "comprehensiveness": "comp ↑", "sufficiency": "suff ↓", "deletion_aopc": "del ↑", "deletion_random_aopc": "del rnd",
    "deletion_difference": "del−rnd ↑", "insertion_aopc": "ins ↓", "insertion_random_aopc": "ins rnd",
    "insertion_difference": "ins−rnd ↓", "seconds": "s/prompt",
}  # fmt: skip


PromptArgument = typer.Argument(None, help="The user's message (or raw text with --raw); omit with --dataset.")
TargetOption = typer.Option(None, "--target", "-t", help="Text to explain; default: the model's own answer.")
MethodOption = typer.Option("occlusion", "--method", help="Attribution method for a single prompt.")
GranularityOption = typer.Option("word", help="token, word, sentence or segment.")
NRandomOption = typer.Option(3, "--n-random", min=1, help="Random orders averaged for the baseline.")
SeedOption = typer.Option(0, help="Seed for random orders and sampling methods.")
DatasetOption = typer.Option(None, "--dataset", help="JSONL/CSV/TSV of prompts (e.g. sst2/dev.tsv).")
MethodsOption = typer.Option("occlusion,attention", "--methods", help="Comma-separated methods for --dataset.")
TemplateOption = typer.Option(
    None, "--template", help="Template with {text} for text/label records; \\n and \\t mean a new line and a tab."
)
LimitOption = typer.Option(None, "--limit", min=1, help="Use at most N prompts of --dataset.")
OutOption = typer.Option(None, "--out", help="Write the --dataset table to this CSV file.")


@handle_errors
def faithfulness(
    ctx: typer.Context,
    prompt: str | None = PromptArgument,
    target: str | None = TargetOption,
    method: str = MethodOption,
    model: str | None = ModelOption,
    raw: bool = RawOption,
    granularity: str = GranularityOption,
    n_random: int = NRandomOption,
    seed: int = SeedOption,
    dataset: Path | None = DatasetOption,
    methods: str = MethodsOption,
    template: str | None = TemplateOption,
    limit: int | None = LimitOption,
    out: Path | None = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Score how faithful an attribution is (ERASER comprehensiveness/sufficiency, deletion/insertion AOPC)."""
    settings = settings_from(ctx)
    chat = None if not raw else False
    figures: dict[str, Any] = {"chat": chat, "granularity": granularity, "n_random": n_random, "seed": seed}
    if dataset is None:
        if prompt is None:
            raise fail("Give a PROMPT, or --dataset FILE to compare methods over many prompts.")
        _score_prompt(settings, prompt, target, method, model, as_json, figures)
        return
    if prompt is not None:
        raise fail("Give either a PROMPT or --dataset FILE, not both.")
    names = [m.strip() for m in methods.split(",") if m.strip()]
    _score_dataset(settings, dataset, names, template, limit, out, model, as_json, figures)


def _score_prompt(
    settings: Settings, prompt: str, target: str | None, method: str, model: str | None, as_json: bool,
    figures: dict[str, Any],
) -> None:  # fmt: skip
    """One prompt's faithfulness report, shown with a progress bar per stage, as tables or JSON."""
    from pellucid.service.faithfulness import faithfulness as run

    lm = load_lm(model, settings, quiet=as_json)
    with progress(as_json) as shown:
        stage = [method]
        report = run(lm, prompt, target, method=method, on_stage=lambda name: stage.__setitem__(0, name),
                     progress=lambda done, total: shown.update(stage[0], done, total), **figures)  # fmt: skip
    if as_json:
        print_json(report)
        return
    _print_report(report)


def _score_dataset(
    settings: Settings, dataset: Path, names: list[str], template: str | None, limit: int | None, out: Path | None,
    model: str | None, as_json: bool, figures: dict[str, Any],
) -> None:  # fmt: skip
    """The methods compared over the file's prompts: a table written to ``out`` and shown (or JSON)."""
    from pellucid.attribution.faithfulness import load_prompts
    from pellucid.service.faithfulness import faithfulness_table

    data = load_prompts(dataset, template=unescape(template) if template else None, limit=limit)
    if data.skipped:
        err_console.print(f"skipped {data.skipped} empty prompt(s) in {dataset.name}")
    if not data.prompts:
        raise fail(f"{dataset} has no usable prompts.")
    lm = load_lm(model, settings, quiet=as_json)
    with progress(as_json) as shown:
        table = faithfulness_table(
            lm, data.prompts, data.targets, names,
            progress=shown.callback(f"{len(data.prompts)} prompts × {len(names)} methods"), **figures,
        )  # fmt: skip
    if out is not None:
        table.to_csv(out, index=False)
        err_console.print(f"wrote {out}")
    if as_json:
        print_json(table.to_dict(orient="records"))
        return
    _print_table(table, f"Faithfulness on {dataset.name} ({len(data.prompts)} prompts)")


def _print_table(table: pd.DataFrame, title: str) -> None:
    """The comparison table with short column names, and a line that spells them out."""
    view = Table(title=title)
    for column in table.columns:
        view.add_column(_SHORT.get(str(column), str(column)), justify="left" if column == "method" else "right")
    for record in table.to_dict(orient="records"):
        view.add_row(*[v if isinstance(v, str) else f"{v:.3f}" if isinstance(v, float) else str(v)
                       for v in record.values()])  # fmt: skip
    console.print(view)
    console.print(
        "comp = comprehensiveness, suff = sufficiency, del/ins = deletion/insertion AOPC, rnd = random order."
    )


def _print_report(report: dict[str, object]) -> None:
    levels = Table(title=f"{report['method']} — row {report['row']!r}, {report['n_features']} features")
    levels.add_column("top %", justify="right")
    levels.add_column("features", justify="right")
    levels.add_column("comprehensiveness ↑", justify="right")
    levels.add_column("sufficiency ↓", justify="right")
    comp, suff = report["comprehensiveness"], report["sufficiency"]
    for q, k, c, s in zip(report["levels"], report["features_per_level"], comp["by_level"], suff["by_level"]):  # type: ignore[index, call-overload]
        levels.add_row(f"{100 * q:g}", str(k), f"{c:.3f}", f"{s:.3f}")
    levels.add_row("mean", "", f"{comp['aopc']:.3f}", f"{suff['aopc']:.3f}", style="bold")  # type: ignore[index]
    console.print(levels)
    curves = Table(title="Perturbation curves (AOPC)")
    for name in ("curve", "method", "random", "method − random"):
        curves.add_column(name, justify="right" if name != "curve" else "left")
    for key, hint in (("deletion", "↑"), ("insertion", "↓")):
        c = report[key]
        curves.add_row(f"{key} {hint}", f"{c['aopc']:.3f}", f"{c['random_aopc']:.3f}", f"{c['difference']:+.3f}")  # type: ignore[index]
    console.print(curves)
    console.print(f"F(full) = {report['f_full']:.3f}, F(all removed) = {report['f_empty']:.3f}", highlight=False)
