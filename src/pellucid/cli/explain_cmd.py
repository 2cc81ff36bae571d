"""``pellucid explain`` and ``pellucid methods``: attributions for every target token."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pellucid import service
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


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise fail(f"--param {pair!r} must look like name=value, e.g. --param steps=32.")
        name, value = pair.split("=", 1)
        params[name.strip().replace("-", "_")] = value.strip()
    return params


@handle_errors
def explain(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The user's message (or raw text with --raw)."),
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
) -> None:
    """Explain which parts of PROMPT made the model produce the target, token by token."""
    settings = settings_from(ctx)
    lm = load_lm(model, settings, quiet=as_json)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), TimeRemainingColumn())
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
            segments=tuple(s.strip() for s in segments.split(",") if s.strip()),
            max_new_tokens=max_new_tokens,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **_parse_params(param),
        )
    if html is not None:
        from pellucid.render.html import explanation_page

        html.write_text(explanation_page(ex), encoding="utf-8")
        err_console.print(f"wrote {html}")
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
