"""``pellucid monitor alerts ...``: alert rules over the monitoring store: list, add, remove, history, check.

A rule is a condition over stored records (``mean(latency_ms) > 500 over 1h``,
``drift(embedding) p < 0.01``) with an action (a webhook, a shell command, or none); checking
fires the rules that start to hold and keeps each event in the alert history.

    pellucid monitor alerts add slow "mean(latency_ms) > 500 over 1h" --webhook http://127.0.0.1:9000/hook
    pellucid monitor alerts check
"""

from __future__ import annotations

import typer
from rich.table import Table

from pellucid.cli.common import JsonOption, console, handle_errors, open_store, print_json
from pellucid.cli.typer_app import App

alerts_app = App(help="Alert rules: list, add, remove, history, check.", no_args_is_help=True)


def fmt_value(value: float | None) -> str:
    """A figure to 4 significant digits, or a dash for none."""
    return "—" if value is None else f"{value:.4g}"


@alerts_app.command("list")
@handle_errors
def alerts_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List alert rules and their state."""
    with open_store(ctx) as store:
        rules = store.alerts.list_alert_rules()
    if as_json:
        print_json([r.to_dict() for r in rules])
        return
    table = Table(title="Alert rules")
    for column in ("name", "condition", "action", "enabled", "state", "last value"):
        table.add_column(column)
    for r in rules:
        state = "[bold red]firing[/]" if r.state == "firing" else "ok"
        action = r.action if r.action == "none" else f"{r.action}: {r.target}"
        table.add_row(r.name, r.condition, action, "yes" if r.enabled else "no", state, fmt_value(r.last_value))
    console.print(table)


@alerts_app.command("add")
@handle_errors
def alerts_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A unique name."),
    condition: str = typer.Argument(..., help="e.g. 'mean(latency_ms) > 500 over 1h', 'drift(embedding) p < 0.01'."),
    webhook: str | None = typer.Option(None, "--webhook", help="POST the alert as JSON to this URL."),
    command: str | None = typer.Option(None, "--command", help="Run this shell command (alert JSON on stdin)."),
    repeat: str | None = typer.Option(None, "--repeat", help="Notify again after this long while firing (e.g. 1h)."),
    disabled: bool = typer.Option(False, "--disabled", metavar="", help="Store the rule without checking it yet."),
    as_json: bool = JsonOption,
) -> None:
    """Add an alert rule."""
    from pellucid.errors import InvalidInputError
    from pellucid.monitor.alerts import add_rule
    from pellucid.monitor.windows import parse_duration

    if webhook and command:
        raise InvalidInputError("Give either --webhook or --command, not both.")
    action, target = ("webhook", webhook) if webhook else ("command", command) if command else ("none", None)
    repeat_s = int(parse_duration(repeat).total_seconds()) if repeat else None
    with open_store(ctx, create=True) as store:
        rule = add_rule(
            store, name, condition, action=action, target=target, enabled=not disabled, repeat_seconds=repeat_s
        )
    if as_json:
        print_json(rule.to_dict())
        return
    console.print(f"added alert rule [bold]{rule.name}[/]: {rule.condition}", highlight=False)


@alerts_app.command("remove")
@handle_errors
def alerts_remove(ctx: typer.Context, name: str = typer.Argument(..., help="Rule name or id.")) -> None:
    """Remove an alert rule (its history is kept)."""
    with open_store(ctx) as store:
        rule = store.alerts.remove_alert_rule(name)
    console.print(f"removed alert rule {rule.name}", highlight=False)


@alerts_app.command("history")
@handle_errors
def alerts_history(
    ctx: typer.Context,
    rule: str | None = typer.Option(None, "--rule", help="Only this rule's events."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = JsonOption,
) -> None:
    """Past alert events, newest first."""
    with open_store(ctx) as store:
        events = store.alerts.alert_history(rule, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    table = Table(title="Alert history")
    for column in ("fired (UTC)", "rule", "value", "delivery", "message"):
        table.add_column(column)
    for e in events:
        delivery = e.delivery_status + (f" ({e.delivery_detail})" if e.delivery_detail else "")
        table.add_row(f"{e.fired_at:%Y-%m-%d %H:%M:%S}", e.rule_name, fmt_value(e.value), delivery, e.message)
    console.print(table)


@alerts_app.command("check")
@handle_errors
def alerts_check(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", metavar="", help="Measure and show what would fire; send, store and change nothing."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check every enabled rule now; fire those that start to hold."""
    from pellucid.monitor.alerts import check_rules

    with open_store(ctx) as store:
        results = check_rules(store, dry_run=dry_run)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    if not results:
        console.print("No enabled alert rules; add one with `pellucid monitor alerts add`.")
    for r in results:
        fired = "[bold red]WOULD FIRE[/]" if r.dry_run else "[bold red]FIRED[/]"
        mark = fired if r.fired else ("[red]firing[/]" if r.holds else "[green]ok[/]")
        delivery = f" → {r.event.delivery_status}" if r.event else ""
        console.print(f"{mark} {r.message}{delivery}", highlight=False)
