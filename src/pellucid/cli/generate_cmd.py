"""``pellucid generate`` and ``pellucid score``: the model's answer, and teacher-forced log-probabilities."""

from __future__ import annotations

import math

import typer
from rich.table import Table

from pellucid import service
from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    RawOption,
    console,
    handle_errors,
    load_lm,
    print_json,
    settings_from,
)


@handle_errors
def generate(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The user's message (or raw text with --raw)."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    system: str | None = typer.Option(None, help="A system message (chat models)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="Most tokens to generate."),
    temperature: float = typer.Option(0.0, min=0.0, help="0 = greedy; above 0 samples."),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0, help="Nucleus sampling mass."),
    seed: int | None = typer.Option(None, help="Random seed for sampling."),
    as_json: bool = JsonOption,
) -> None:
    """Generate the model's answer to PROMPT (chat template applied unless --raw)."""
    settings = settings_from(ctx)
    lm = load_lm(model, settings, quiet=as_json)
    out = service.generate(
        lm,
        prompt,
        raw=raw,
        system=system,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
    )
    if as_json:
        print_json(
            {
                k: v
                for k, v in out.to_dict().items()
                if k in ("model", "prompt", "text", "tokens", "logprobs", "finish_reason")
            }
        )
        return
    console.print(out.text, highlight=False, markup=False)


@handle_errors
def score(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The prompt (user message, or raw text with --raw)."),
    target: str = typer.Argument(..., help="The continuation to score, e.g. ' Paris' (mind the leading space)."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    system: str | None = typer.Option(None, help="A system message (chat models)."),
    as_json: bool = JsonOption,
) -> None:
    """Log-probability of each TARGET token given PROMPT (teacher forcing, one forward pass)."""
    settings = settings_from(ctx)
    lm = load_lm(model, settings, quiet=as_json)
    out = service.score(lm, prompt, target, raw=raw, system=system)
    if as_json:
        print_json(out.to_dict())
        return
    table = Table(title=f"log p(target | prompt) — {out.model}")
    table.add_column("token")
    table.add_column("id", justify="right")
    table.add_column("log-prob", justify="right")
    table.add_column("prob", justify="right")
    for tok, tid, lp in zip(out.tokens, out.token_ids, out.logprobs):
        table.add_row(repr(tok), str(tid), f"{lp:.4f}", f"{math.exp(lp):.4f}")
    table.add_row("[bold]total[/]", "", f"[bold]{out.total:.4f}[/]", f"{math.exp(out.total):.4g}")
    console.print(table)
