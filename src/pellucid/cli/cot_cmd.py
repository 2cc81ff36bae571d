"""``pellucid cot``: does the model's stated chain of thought drive its answer?"""

from __future__ import annotations

import re
from contextlib import nullcontext

import typer
from rich.markup import escape
from rich.table import Table

from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    console,
    err_console,
    handle_errors,
    load_lm,
    print_json,
    settings_from,
)


@handle_errors
def cot(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to reason about."),
    model: str | None = ModelOption,
    system: str | None = typer.Option(None, help="A system message (chat models)."),
    max_reasoning_tokens: int = typer.Option(
        192, "--max-reasoning-tokens", min=8, help="Length of the chain of thought."
    ),
    max_steps: int = typer.Option(8, "--max-steps", min=1, help="Most reasoning steps tested."),
    seed: int = typer.Option(0, help="Seed of the step corruptions."),
    as_json: bool = JsonOption,
) -> None:
    """Truncate, corrupt or replace the reasoning with filler; how often does the answer change? (Lanham et al. 2023)"""
    from pellucid.service.counterfactual import chain_of_thought

    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    with err_console.status("Reasoning, then re-asking after each edited chain…") if not as_json else nullcontext():
        result = chain_of_thought(
            lm, question, system=system, max_reasoning_tokens=max_reasoning_tokens, max_steps=max_steps, seed=seed
        )
    if as_json:
        print_json(result.to_dict())
        return
    console.print("[bold]Reasoning[/]", highlight=False)
    for line in numbered(result.steps):
        console.print(f"  {line}", highlight=False, markup=False)
    console.print(f"[bold]Answer:[/] {escape(result.answer)}", highlight=False)
    table = Table(title="Interventions")
    for col in ("kind", "step", "new answer", "changed", "Δ log p(answer)"):
        table.add_column(col)
    for iv in result.interventions:
        step = "—" if iv.step is None else (f"keep {iv.step}" if iv.kind == "truncate" else str(iv.step + 1))
        table.add_row(iv.kind, step, escape(iv.answer), "yes" if iv.changed else "no", f"{iv.delta_logprob:+.3f}")
    console.print(table)
    s = result.summary
    style = "green" if s["faithful"] else "red"
    console.print(f"[{style}]{s['verdict']}[/] (change rate {s['change_rate']:.2f})", highlight=False)


_OWN_NUMBER = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):]\s", re.IGNORECASE)


def numbered(steps: list[str]) -> list[str]:
    """Steps as numbered lines; steps the model numbered itself ("1. Tom has...") keep their own number."""
    return [text if _OWN_NUMBER.match(text) else f"{n}. {text}" for n, text in enumerate(steps, 1)]
