"""``pellucid models``: the bundled models and every converted or cached one."""

from __future__ import annotations

import typer
from rich.table import Table

from pellucid import service
from pellucid.cli.common import JsonOption, console, handle_errors, print_json, settings_from


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@handle_errors
def models(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List models: name, kind, status, architecture, layers, heads, context length, size."""
    entries = service.list_models(settings_from(ctx))
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table = Table(title="Models")
    for col in ("name", "kind", "status", "arch", "layers", "heads", "d_model", "context", "size"):
        table.add_column(col, justify="right" if col in ("layers", "heads", "d_model", "context", "size") else "left")
    for e in entries:
        table.add_row(
            e.name,
            e.kind,
            e.status,
            e.architecture or "",
            str(e.layers or ""),
            str(e.heads or ""),
            str(e.d_model or ""),
            str(e.context_length or ""),
            _size(e.size_bytes),
        )
    console.print(table)
