"""``pellucid monitor records``: the logged calls, newest first, with their ids.

The id is what ``pellucid explain --record ID`` and ``pellucid monitor feedback`` take::

    pellucid monitor records --window last:1d --flag empty_prompt
    pellucid monitor records --model smollm2-135m-instruct --tag beta --json | jq -r '.[].id'

Filters combine with AND (the store's :class:`~pellucid.monitor.records.RecordFilter`). A terminal
gets a table with shortened prompts and answers; a pipe gets the same table uncut; ``--json`` gives
every field of each record.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from pellucid.cli.common import JsonOption, console, handle_errors, open_store, print_json

#: characters of a prompt or an answer shown in a terminal's table (a pipe gets them whole)
SHOWN_CHARS = 60


@handle_errors
def records(
    ctx: typer.Context,
    window: str | None = typer.Option(
        None, "--window", "-w", help="Records to list: last:7d, version:v2, 2026-11-01..2026-11-15."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Only calls answered by this model."),
    tag: str | None = typer.Option(None, "--tag", help="Only records carrying this tag."),
    flag: str | None = typer.Option(None, "--flag", help="Only records with this quality flag, e.g. empty_prompt."),
    feedback: str | None = typer.Option(None, "--feedback", help="thumbs_up, thumbs_down, score, any or none."),
    text: str | None = typer.Option(None, "--text", help="Prompt or answer containing this text (any case)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000, help="At most this many records."),
    as_json: bool = JsonOption,
) -> None:
    """List logged calls, newest first: their ids (for `explain --record ID`), model, prompt and answer."""
    from dataclasses import replace

    from pellucid.monitor.records import RecordFilter
    from pellucid.monitor.windows import parse_window

    base = parse_window(window) if window else RecordFilter()
    chosen: dict[str, Any] = {"model": model, "tag": tag, "flag": flag, "feedback": feedback, "text": text}
    filter = replace(base, **{k: v for k, v in chosen.items() if v is not None})
    with open_store(ctx) as store:
        page = store.repo.list_records(filter, limit=limit, with_total=True)
    if as_json:
        print_json([r.to_dict() for r in page.items])
        return
    _table(page.items, page.total)


def _table(items: list[Any], total: int | None) -> None:
    """The records as a table, and how many more match."""
    if not items:
        console.print("No records match; `pellucid serve` logs calls, or drop a filter.")
        return
    cut = console.is_terminal
    table = Table(title=f"{len(items)} of {total} record(s), newest first", title_justify="left")
    for column in ("id", "created (UTC)", "model", "prompt", "answer", "flags", "tags"):
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    for r in items:
        table.add_row(
            r.id,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            escape(r.model or ""),
            escape(_short(r.prompt_text, cut)),
            escape(_short(r.response or "", cut)),
            escape(", ".join(sorted(r.flags))),
            escape(", ".join(r.tags)),
        )
    console.print(table)
    if total is not None and total > len(items):
        console.print(f"… {total - len(items)} more; narrow with --window/--model/--tag or raise --limit", style="dim")


def _short(text: str, cut: bool) -> str:
    """One line; at most :data:`SHOWN_CHARS` characters in a terminal."""
    line = " ".join(text.split())
    return line[: SHOWN_CHARS - 1] + "…" if cut and len(line) > SHOWN_CHARS else line
