"""``pellucid features ...``: sparse dictionaries (SAEs, transcoders) for the model you run.

``train`` streams the model's activations over a corpus and fits a dictionary, saved as a
SAELens-layout folder (``--out``); ``evaluate`` measures it on held-out text and writes
``pellucid_eval.json`` there; ``info`` shows what a folder holds without loading a model.
The training options are generated from :data:`pellucid.features.specs.TRAIN`, and every
option and the corpus are checked before the model loads.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from pellucid.cli import features_explain_cmd
from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    console,
    handle_errors,
    load_lm,
    open_store,
    print_json,
    settings_from,
)
from pellucid.cli.progress import progress as progress_display
from pellucid.cli.spec_options import spec_options
from pellucid.cli.typer_app import App
from pellucid.features.specs import EVALUATE, TRAIN
from pellucid.service import features as service

if TYPE_CHECKING:
    from pellucid.models import LM

app = App(help="Sparse features: train, evaluate and inspect dictionaries (SAEs).", no_args_is_help=True)

DataOption = typer.Option(..., "--data", "-d", help="Corpus: .txt lines, .jsonl, .tsv/.csv (text column), .conllu.")
TrainDataOption = typer.Option(
    None, "--data", "-d", help="Corpus: .txt lines, .jsonl, .tsv/.csv (text column), .conllu (or --records)."
)
RecordsOption = typer.Option(
    None,
    "--records",
    help="Train on the prompts and responses logged in the store in this window: last:7d, version:v2, "
    "2026-11-01..2026-11-15 (instead of --data).",
)
FolderArgument = typer.Argument(..., help="Dictionary folder (SAELens layout).")


def _table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in rows.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    return table


@app.command("train")
@handle_errors
@spec_options(TRAIN.params)
def train_cmd(
    ctx: typer.Context,
    data: Path | None = TrainDataOption,
    records: str | None = RecordsOption,
    out: Path = typer.Option(Path("sae"), "--out", "-o", help="Folder the dictionary is written to."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    eval_data: Path | None = typer.Option(None, "--eval", help="Held-out corpus to evaluate on afterwards."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    **params: Any,
) -> None:
    """Train a dictionary on the model's activations at one site, or transcoders for --layers in one pass
    (over --data or logged --records)."""
    from pellucid.service.feature_corpus import check_choice, choose_corpus

    check_choice(data, records)
    with ExitStack() as stack:
        store = stack.enter_context(open_store(ctx)) if records is not None else None
        corpus = choose_corpus(data, records, store)
        checked = service.check_train(corpus, **params)  # before the model loads
        lm = load_lm(model, settings_from(ctx), quiet=as_json)
        if checked["sites"] is None:
            _train_layers(lm, corpus, out, resume, eval_data, as_json, params)
            return
        summary = _train(lm, corpus, out, resume, as_json, params)
    if eval_data is not None:
        summary["evaluation"] = service.evaluate(lm, out, eval_data, max_tokens=checked["eval_tokens"]).to_dict()
    if as_json:
        print_json(summary)
        return
    evaluation = summary.pop("evaluation", None)
    console.print(_table("trained", summary))
    if evaluation:
        console.print(_table("held-out evaluation", evaluation))


def _train(lm: LM, corpus: Any, out: Path, resume: bool, quiet: bool, params: dict[str, Any]) -> dict[str, Any]:
    """Train with a progress bar; the run's summary (folder, tokens, speed, last figures)."""
    total = int(params["tokens"])
    with progress_display(quiet) as bar:

        def progress(fraction: float, figures: dict[str, float]) -> None:
            bar.update("training", int(fraction * total), total, f"FVE {figures['fve']:.3f}  L0 {figures['l0']:.1f}")

        result = service.train(lm, corpus, out=out, resume=resume, progress=progress, **params)
    summary: dict[str, Any] = {
        "folder": str(out),
        "tokens": result.tokens,
        "seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.tokens_per_second, 1),
    }
    if result.history:
        summary.update({k: result.history[-1][k] for k in ("fve", "l0", "dead")})
    return summary


def _train_layers(
    lm: Any, corpus: Any, out: Path, resume: bool, eval_data: Path | None, as_json: bool, params: dict[str, Any]
) -> None:
    """``--transcoder --layers ...``: every layer in one pass; the summary names each layer's figures."""
    total = int(params["tokens"])
    with progress_display(as_json) as bar:

        def progress(fraction: float, figures: dict[str, float]) -> None:
            note = f"mean FVE {figures['fve']:.3f}  L0 {figures['l0']:.1f}"
            bar.update("training transcoders", int(fraction * total), total, note)

        def eval_progress(done: int, of: int) -> None:  # each layer, then the replacement model
            bar.update("evaluating transcoders", done, of)

        summary = service.train_transcoders(lm, corpus, out=out, resume=resume, progress=progress,
                                            eval_data=eval_data, eval_progress=eval_progress, **params)  # fmt: skip
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"transcoders in {out}")
    for column in ("layer", "FVE", "L0", "dead", "held-out FVE", "CE recovered"):
        table.add_column(column)
    for layer, row in summary["layers"].items():
        evaluation = row.get("evaluation") or {}
        cells = [row.get("fve"), row.get("l0"), row.get("dead"), evaluation.get("fve"), evaluation.get("ce_recovered")]
        table.add_row(layer, *("-" if v is None else f"{v:.3g}" for v in cells))
    console.print(table)
    console.print(_table("replacement model", {k: v for k, v in summary["replacement"].items() if k != "layers"}))


@app.command("evaluate")
@handle_errors
@spec_options(EVALUATE.params)
def evaluate_cmd(
    ctx: typer.Context,
    folder: Path = FolderArgument,
    data: Path = DataOption,
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    **params: Any,
) -> None:
    """FVE, L0, dead/dense latents and CE loss recovered on held-out text (saved in the folder)."""
    service.info(folder)  # a folder that is not a dictionary fails before the model loads
    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    report = service.evaluate(lm, folder, data, **params).to_dict()
    if as_json:
        print_json(report)
    else:
        console.print(_table(f"evaluation of {folder}", report))


@app.command("info")
@handle_errors
def info_cmd(folder: Path = FolderArgument, as_json: bool = JsonOption) -> None:
    """What a dictionary folder holds: shape, model, site, training and evaluation figures."""
    data = service.info(folder)
    if as_json:
        print_json(data)
        return
    nested = {key: data.pop(key) for key in ("train", "evaluation") if key in data}
    console.print(_table(str(folder), data))
    for key, values in nested.items():
        console.print(_table(key, {k: v for k, v in values.items() if not isinstance(v, dict)}))


@app.command("show")
@handle_errors
def show_cmd(
    ctx: typer.Context,
    folder: Path = FolderArgument,
    feature: int = typer.Argument(..., help="Feature (latent) index."),
    data: Path = DataOption,
    top: int = typer.Option(10, "--top", min=1, help="Top-activating contexts shown."),
    max_tokens: int = typer.Option(20_000, "--max-tokens", min=1, help="Corpus tokens searched."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
) -> None:
    """A feature's top-activating contexts, activation histogram and the tokens its direction promotes."""
    service.info(folder)
    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    view = service.show(lm, folder, feature, data, top=top, max_tokens=max_tokens).to_dict()
    if as_json:
        print_json(view)
        return
    _print_view(view)


def _print_view(view: dict[str, Any]) -> None:
    from rich.markup import escape

    console.print(
        f"feature {view['feature']}: fires on {100 * view['density']:.2f} % of {view['tokens_read']} tokens, "
        f"max {view['max_activation']:.3g}"
    )
    for ctx in view["contexts"]:
        parts = []
        for i, (token, act) in enumerate(zip(ctx["tokens"], ctx["activations"], strict=True)):
            text = escape(token)
            parts.append(f"[bold reverse]{text}[/]" if i == ctx["peak"] else (f"[bold]{text}[/]" if act > 0 else text))
        console.print(f"{ctx['max']:8.3f}  " + "".join(parts))
    counts = view["histogram"]["counts"]
    if counts:
        peak = max(counts) or 1
        console.print("histogram: " + "".join(" ▁▂▃▄▅▆▇█"[round(8 * n / peak)] for n in counts))
    for key in ("promoted", "suppressed"):
        if view[key]:
            console.print(f"{key}: " + ", ".join(f"{escape(repr(t))} {v:+.2f}" for t, v in view[key]))


features_explain_cmd.register(app)
