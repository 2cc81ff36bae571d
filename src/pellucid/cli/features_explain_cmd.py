"""``pellucid features explain|ablate`` (and ``explain --features``): features as explanations.

``explain`` attributes a target's log-probability to the dictionary's latents (activation ×
gradient, an exact error node per position) and prints the top latents with the tokens where
they fire, the tokens their decoder direction promotes, and the ablation self-check; ``ablate``
removes (or scales) chosen latents wherever they fire and prints the target's change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    RawOption,
    console,
    handle_errors,
    load_lm,
    open_store,
    print_json,
    settings_from,
)
from pellucid.service import feature_explain as service

FolderOption = typer.Option(..., "--dictionary", "-D", help="Dictionary folder (SAELens layout).")


def render_attribution(out: dict[str, Any], as_json: bool) -> None:
    """Print a feature attribution (see :func:`pellucid.service.feature_explain.explain`)."""
    if as_json:
        print_json(out)
        return
    table = Table(title=f"Features behind {out['target']!r} at {out['site']} — {out['model']}")
    for name, justify in (("latent", "right"), ("attribution", "right"), ("fires on", "left"), ("promotes", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in out["top"]:
        table.add_row(
            str(row["latent"]), f"{row['attribution']:+.4f}", " ".join(repr(t) for t in row["tokens"]),
            " ".join(repr(t) for t in row["promotes"]),
        )  # fmt: skip
    console.print(table)
    meta = out["meta"]
    skip = sum(out.get("skip") or [])
    latents = out["total"] - sum(out["error"]) - sum(out["bias"]) - skip
    console.print(
        f"log p(target) = {out['value']:.4f}; site contribution {out['total']:+.4f} = latents "
        f"{latents:+.4f} + error {sum(out['error']):+.4f} + bias {sum(out['bias']):+.4f}"
        + (f" + skip term {skip:+.4f}" if out.get("skip") and any(out["skip"]) else "")
        + f" (completeness residual {meta['completeness_residual']:.1e})"
    )
    check = meta.get("self_check")
    if check and check.get("ablated"):
        console.print(
            f"Self-check: ablating the top {check['ablated']} features changes log p(target) by "
            f"{check['measured_change']:+.4f}; the attribution predicted {check['predicted_change']:+.4f} "
            f"(agreement {check['agreement']:.2f})."
        )
        if check.get("warning"):
            console.print(f"[yellow]warning: {check['warning']}[/yellow]")
    elif check:
        console.print(f"Self-check: {check['note']}.")


def explain_with_features(
    ctx: typer.Context | None, prompt: str, target: str, folder: Path, *, model: str | None, raw: bool,
    verify: int, top: int, as_json: bool,
) -> None:  # fmt: skip
    """The shared body of ``features explain`` and ``explain --features``."""
    service.check_folder(folder)
    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    out = service.explain(lm, prompt, target, folder, chat=False if raw else None, verify=verify, top=top)
    render_attribution(out, as_json)


@handle_errors
def explain_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The user's message (or raw text with --raw)."),
    target: str = typer.Option(..., "--target", "-t", help="Continuation whose log-probability is explained."),
    folder: Path = FolderOption,
    verify: int = typer.Option(5, "--verify", min=0, help="Top features ablated together as a self-check (0: skip)."),
    top: int = typer.Option(10, "--top", min=1, help="Features listed."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    as_json: bool = JsonOption,
) -> None:
    """Attribute the target to the dictionary's features (activation × gradient, with an error node)."""
    explain_with_features(ctx, prompt, target, folder, model=model, raw=raw, verify=verify, top=top, as_json=as_json)


@handle_errors
def ablate_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The user's message (or raw text with --raw)."),
    target: str = typer.Option(..., "--target", "-t", help="Continuation whose log-probability is measured."),
    folder: Path = FolderOption,
    latent: list[int] = typer.Option(..., "--latent", "-l", help="Latent id (repeatable)."),
    scale: float = typer.Option(0.0, "--scale", help="Multiply the latents' contributions (0 ablates, 2 doubles)."),
    model: str | None = ModelOption,
    raw: bool = RawOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove (or scale) features wherever they fire and show how the target's log-probability moves."""
    service.check_folder(folder)
    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    out = service.ablate(lm, prompt, target, folder, list(latent), scale=scale, chat=False if raw else None)
    if as_json:
        print_json(out)
        return
    console.print(
        f"log p({out['target']!r}): {out['before']:.4f} -> {out['after']:.4f} ({out['change']:+.4f}) with latents "
        f"{', '.join(map(str, out['latents']))} scaled by {out['scale']:g} at {len(out['fired'])} positions."
    )
    if out["silent"]:
        console.print(f"Not firing on this prompt (no effect): {', '.join(map(str, out['silent']))}.")


@handle_errors
def enrich_cmd(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Dictionary folder (SAELens layout)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N records (default: every waiting one)."),
    top: int = typer.Option(32, "--top", min=1, help="Strongest features kept per response."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
) -> None:
    """Store the strongest features of each logged response (for drift and "where does it fire")."""
    from pellucid.service.feature_enrichment import FeatureEnricher

    service.check_folder(folder)
    lm = load_lm(model, settings_from(ctx), quiet=as_json)
    with open_store(ctx) as store:
        enricher = FeatureEnricher(store, folder, lm, top=top)
        stats = enricher.run_once(limit)
    data = {"records": stats.records, "features": stats.features, "skipped": stats.skipped, "seconds": stats.seconds}
    if as_json:
        print_json(data)
        return
    console.print(
        f"Stored {stats.features} features of {stats.records} records under {enricher.name!r} "
        f"({stats.skipped} skipped: another model, no response or too long) in {stats.seconds:.1f} s."
    )


def register(app: typer.Typer) -> None:
    """Add ``explain``, ``ablate`` and ``enrich`` to the ``features`` command group."""
    app.command("explain")(explain_cmd)
    app.command("ablate")(ablate_cmd)
    app.command("enrich")(enrich_cmd)
