"""How the audit commands show a report: the HTML page and JSON file, the summary table, the findings.

``pellucid audit`` (the suite, each single check) and ``pellucid audit traffic`` write a report
the same way: :func:`write_report` saves the self-contained HTML page with the report's JSON
beside it when ``--out`` is given, then prints the JSON (``--json``) or a table with one row per
check. A single check also lists its first findings (:func:`print_findings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from pellucid.cli.common import console, err_console, print_json


def write_report(report: Any, out: Path | None, as_json: bool) -> None:
    """The report as an HTML page at ``out`` (its JSON beside it), then as JSON on stdout or a table."""
    from pellucid.audit.report_html import report_page

    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report_page(report), encoding="utf-8")
        json_path = out.with_suffix(".json") if out.suffix.lower() != ".json" else out.with_suffix(".report.json")
        report.save(json_path)
        err_console.print(f"wrote {out} and {json_path}")
    if as_json:
        print_json(report.to_dict())
    else:
        print_summary(report)


def print_summary(report: Any) -> None:
    """One row per check: status (coloured), score, threshold, seconds and a note."""
    table = Table(title=f"Audit of {report.model}", title_justify="left")
    for col in ("check", "status", "score", "threshold", "seconds", "note"):
        table.add_column(col, overflow="fold")
    colours = {"pass": "green", "fail": "red", "inconclusive": "magenta", "error": "yellow"}
    for c in report.checks:
        note = c.error or c.evidence_note()
        table.add_row(
            c.check,
            f"[{colours[c.status]}]{c.status}[/]",
            "—" if c.score is None else f"{c.score:.4f}",
            "—" if c.threshold is None else f"{c.threshold:g}",
            f"{c.seconds:.1f}",
            note,
        )
    console.print(table)


#: findings shown under a single check's table (all of them are in --json and the HTML report)
FINDINGS_SHOWN = 5


def print_findings(result: Any) -> None:
    """The examples behind a check's figure: its first findings, one row each, every field a column."""
    if not result.findings:
        return
    shown = result.findings[:FINDINGS_SHOWN]
    columns = list(dict.fromkeys(k for f in shown for k in f))
    table = Table(title=f"{result.check}: {len(result.findings)} finding(s)", title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for finding in shown:
        table.add_row(*(_cell(finding.get(column)) for column in columns))
    console.print(table)
    if len(result.findings) > len(shown):
        console.print(f"… {len(result.findings) - len(shown)} more in --json or the --out report", highlight=False)


def _cell(value: Any) -> str:
    """A finding's field as short plain text (floats to 4 digits, nested values as JSON)."""
    import json

    from rich.markup import escape

    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return escape(text if len(text) <= 200 else text[:199] + "…")
