"""``pellucid faithfulness``: how faithful is an attribution? One prompt, or a data set of them.

One prompt: explain it with ``--method`` and print ERASER comprehensiveness (↑) and
sufficiency (↓) at each level, and deletion (↑) / insertion (↓) AOPC against random orders.
``--dataset FILE`` runs every method of ``--methods`` over a JSONL/CSV/TSV file and prints (or
writes with ``--out``) one row per method, each figure averaged over the prompts.
"""

from __future__ import annotations

from pathlib import Path

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

_SHORT = {
    "comprehensiveness": "comp ↑", "sufficiency": "suff ↓", "deletion_aopc": "del ↑", "deletion_random_aopc": "del rnd",
    "deletion_difference": "del−rnd ↑", "insertion_aopc": "ins ↓", "insertion_random_aopc": "ins rnd",
    "insertion_difference": "ins−rnd ↓", "seconds": "s/prompt",
}  # fmt: skip


@handle_errors
def faithfulness(
    ctx: typer.Context,
    prompt: str | None = typer.Argument(None, help="The user's message (or raw text with --raw); omit with --dataset."),
    target: str | None = typer.Option(None, "--target", "-t", help="Text to explain; default: the model's own answer."),
    method: str = typer.Option("occlusion", "--method", help="Attribution method for a single prompt."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    granularity: str = typer.Option("word", help="token, word, sentence or segment."),
    n_random: int = typer.Option(3, "--n-random", min=1, help="Random orders averaged for the baseline."),
    seed: int = typer.Option(0, help="Seed for random orders and sampling methods."),
    dataset: Path | None = typer.Option(None, "--dataset", help="JSONL/CSV/TSV of prompts (e.g. sst2/dev.tsv)."),
    methods: str = typer.Option("occlusion,attention", "--methods", help="Comma-separated methods for --dataset."),
    template: str | None = typer.Option(
        None, "--template", help="Template with {text} for text/label records; \\n and \\t mean a new line and a tab."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use at most N prompts of --dataset."),
    out: Path | None = typer.Option(None, "--out", help="Write the --dataset table to this CSV file."),
    as_json: bool = JsonOption,
) -> None:
    """Score how faithful an attribution is (ERASER comprehensiveness/sufficiency, deletion/insertion AOPC)."""
    from pellucid.attribution.faithfulness import load_prompts
    from pellucid.service.faithfulness import faithfulness as run
    from pellucid.service.faithfulness import faithfulness_table

    settings = settings_from(ctx)
    chat = None if not raw else False
    if dataset is None:
        if prompt is None:
            raise fail("Give a PROMPT, or --dataset FILE to compare methods over many prompts.")
        lm = load_lm(model, settings, quiet=as_json)
        with progress(as_json) as shown:
            stage = [method]
            report = run(lm, prompt, target, method=method, chat=chat, granularity=granularity, n_random=n_random,
                         seed=seed, progress=lambda done, total: shown.update(stage[0], done, total),
                         on_stage=lambda name: stage.__setitem__(0, name))  # fmt: skip
        if as_json:
            print_json(report)
            return
        _print_report(report)
        return

    if prompt is not None:
        raise fail("Give either a PROMPT or --dataset FILE, not both.")
    names = [m.strip() for m in methods.split(",") if m.strip()]
    data = load_prompts(dataset, template=unescape(template) if template else None, limit=limit)
    if data.skipped:
        err_console.print(f"skipped {data.skipped} empty prompt(s) in {dataset.name}")
    if not data.prompts:
        raise fail(f"{dataset} has no usable prompts.")
    lm = load_lm(model, settings, quiet=as_json)
    with progress(as_json) as shown:
        table = faithfulness_table(
            lm, data.prompts, data.targets, names,
            progress=shown.callback(f"{len(data.prompts)} prompts × {len(names)} methods"),
            chat=chat, granularity=granularity, n_random=n_random, seed=seed,
        )  # fmt: skip
    if out is not None:
        table.to_csv(out, index=False)
        err_console.print(f"wrote {out}")
    if as_json:
        print_json(table.to_dict(orient="records"))
        return
    view = Table(title=f"Faithfulness on {dataset.name} ({len(data.prompts)} prompts)")
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
