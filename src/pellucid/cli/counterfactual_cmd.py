"""``pellucid counterfactual`` and ``pellucid generators``: what if the prompt were different?"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

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
from pellucid.cli.params import parse_params

if TYPE_CHECKING:
    from pellucid.counterfactual.compare import CounterfactualResult, Variant


@handle_errors
def counterfactual(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The original prompt (the user's message, or raw text with --raw)."),
    replace: list[str] = typer.Option([], "--replace", "-r", help="old=>new (repeatable), e.g. 'awful=>excellent'."),
    generator: str | None = typer.Option(
        None, "--generator", "-g", help="Make edits with a generator (see `pellucid generators`)."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="Generator parameter name=value (repeatable)."),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Text whose log-probability is compared; default: the original answer."
    ),
    foil: str | None = typer.Option(None, help="Also compare log p(target) - log p(foil)."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    system: str | None = typer.Option(None, help="A system message (chat models)."),
    max_new_tokens: int = typer.Option(32, "--max-new-tokens", min=1, help="Length of each answer."),
    seed: int = typer.Option(0, help="Seed of the generator."),
    similarity: bool = typer.Option(
        True, "--similarity/--no-similarity", metavar="", help="Embedding similarity of the answers (loads MiniLM)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run PROMPT and its edits: both answers, the change of the target's log-probability, the word diff."""
    from pellucid.service.counterfactual import compare

    if not replace and not generator:
        raise fail("Give at least one --replace 'old=>new' or a --generator NAME.")
    settings = settings_from(ctx)
    lm = load_lm(model, settings, quiet=as_json)
    with err_console.status("Running the original and edited prompts…") if not as_json else nullcontext():
        result = compare(
            lm,
            prompt,
            replace=replace or None,
            generator=generator,
            generator_params=parse_params(param, example="n=3"),
            pool=model_pool(settings, lm),
            similarity=similarity,
            target=target,
            foil=foil,
            chat=False if raw else None,
            system=system,
            max_new_tokens=max_new_tokens,
            seed=seed,
        )
    if as_json:
        print_json(result.to_dict())
        return
    print_counterfactual(result)


def diff_text(original: str, variant: Variant, plain: bool = False) -> Text:
    """The edited prompt drawn over the original: removed text red and struck through, added text green.

    Local edits draw their own character-level changes; others (paraphrases) fall back to the word diff.
    ``plain`` (no colours: a pipe or NO_COLOR) marks changes as ``[-removed-]{+added+}`` instead.
    """
    out = Text()
    old_mark, new_mark = (("[-", "-]"), ("{+", "+}")) if plain else (("", ""), ("", ""))
    edit = variant.edit
    if edit is not None and edit.changes and edit.check(original):
        cursor = 0
        for ch in sorted(edit.changes, key=lambda c: c.start):
            out.append(original[cursor : ch.start])
            if ch.old:
                out.append(f"{old_mark[0]}{ch.old}{old_mark[1]}", style="red strike")
            if ch.new:
                out.append(f"{new_mark[0]}{ch.new}{new_mark[1]}", style="bold green")
            cursor = ch.end
        out.append(original[cursor:])
        return out
    for d in variant.diff:
        if d.op == "equal":
            out.append(" ".join(d.old) + " ")
            continue
        if d.old:
            out.append(f"{old_mark[0]}{' '.join(d.old)}{old_mark[1]} ", style="red strike")
        if d.new:
            out.append(f"{new_mark[0]}{' '.join(d.new)}{new_mark[1]} ", style="bold green")
    return out


def print_counterfactual(result: CounterfactualResult) -> None:
    orig = result.original
    what = "the original answer" if result.target_is_answer else repr(result.target)
    console.print(f"[bold]Target:[/] {what}  log p = {orig.target_logprob:.3f}", highlight=False)
    for v in result.variants:
        assert v.edit is not None
        table = Table(show_header=True, title=v.edit.label or v.edit.generator, title_justify="left")
        table.add_column("original", ratio=1, overflow="fold")
        table.add_column("edited", ratio=1, overflow="fold")
        table.add_row(Text(orig.prompt), diff_text(orig.prompt, v, plain=console.color_system is None))
        table.add_row(Text(orig.answer, style="cyan"), Text(v.answer, style="cyan"))
        console.print(table)
        line = f"Δ log p(target) = {v.delta_logprob:+.3f}"
        if v.delta_contrast is not None:
            line += f"   Δ [log p(target) − log p(foil)] = {v.delta_contrast:+.3f}"
        line += f"   answers: {'same' if v.exact_match else 'different'}, token edit distance {v.token_edit_distance}"
        if v.similarity is not None:
            line += f", similarity {v.similarity:.3f}"
        console.print(line, highlight=False, markup=False)
    if result.unmatched:
        console.print(f"[yellow]No match for:[/] {', '.join(result.unmatched)}", highlight=False)


@handle_errors
def generators(as_json: bool = JsonOption) -> None:
    """List the counterfactual generators with their parameters and defaults."""
    from pellucid.service.counterfactual import list_generators

    described = list_generators()
    if as_json:
        print_json(described)
        return
    table = Table(title="Counterfactual generators")
    table.add_column("generator", style="bold")
    table.add_column("description")
    table.add_column("needs")
    table.add_column("parameters (default)")
    for g in described:
        params = ", ".join(f"{p['name']}={p['default']!r}" for p in g["params"]) or "—"
        table.add_row(g["name"], g["description"], ", ".join(g["needs"]) or "—", params)
    console.print(table)
