"""Flags take no value, so the help shows no type for them: ``--raw``, not ``--raw <bool>``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pellucid.cli.main import app


@pytest.mark.parametrize(
    "command", [["explain"], ["inspect", "patch"], ["inspect", "trace"], ["audit"], ["monitor", "records"]]
)
def test_help_shows_no_type_for_flags(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    typed = [line for line in result.output.splitlines() if "<bool>" in line and "--help" not in line]
    assert typed == [], typed  # Typer's own --help keeps its label
    assert "--json" in result.output
