"""``pellucid injection``: attack success rate of prompt injections, per pattern family."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    console,
    handle_errors,
    load_lm,
    print_json,
    settings_from,
)
from pellucid.cli.params import unescape
from pellucid.cli.progress import progress


@handle_errors
def injection(
    ctx: typer.Context,
    system: str = typer.Option(..., "--system", "-s", help="The operator's system prompt under attack."),
    suite: str = typer.Option("default", help="default, or a JSON file of attacks."),
    families: str | None = typer.Option(None, help="Comma-separated families (default: all)."),
    task: str | None = typer.Option(None, help="The user's message, with {attack} where the attack goes."),
    model: str | None = ModelOption,
    max_new_tokens: int = typer.Option(48, "--max-new-tokens", min=1, help="Length of each response."),
    seed: int = typer.Option(0, help="Seed of the canaries."),
    transcripts: bool = typer.Option(
        True, "--transcripts/--no-transcripts", metavar="", help="Print every transcript."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Send the built-in prompt-injection suite to the model under SYSTEM; a canary shows which attacks it obeyed."""
    from pellucid.service.counterfactual import injection as run_injection

    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    chosen = [f.strip() for f in families.split(",") if f.strip()] if families else None
    with progress(as_json) as shown:
        report = run_injection(
            lm,
            system,
            suite=suite,
            families=chosen,
            task=unescape(task) if task else None,
            seed=seed,
            max_new_tokens=max_new_tokens,
            progress=shown.callback("attacks"),
        )
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"Prompt injection · {report.model}")
    for col in ("family", "attacks", "succeeded", "success rate", "95 % CI"):
        table.add_column(col)
    for fam, s in {**report.families, "all": report.overall}.items():
        lo, hi = s["ci95"]
        table.add_row(fam, str(s["attacks"]), str(s["succeeded"]), f"{s['success_rate']:.2f}", f"[{lo:.2f}, {hi:.2f}]")
    console.print(table)
    if transcripts:
        for t in report.transcripts:
            mark = "[red]OBEYED[/]" if t["obeyed"] else "[green]resisted[/]"
            console.print(f"\n[bold]{t['id']}[/] ({t['family']}) {mark} · canary {t['canary']}", highlight=False)
            # the attack and the answer are shown as written: their brackets are text, not markup
            console.print(Text.assemble(("attack: ", "dim"), str(t["text"])), highlight=False)
            console.print(Text.assemble(("response: ", "dim"), str(t["response"])), highlight=False)
