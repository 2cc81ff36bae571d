"""Every ``pellucid`` help page: flags (``--help`` included) are listed without a ``<bool>`` label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from pellucid.cli.main import app


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under ``command``, as the words that name it."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


def test_no_help_page_labels_a_flag_as_bool():
    paths = list(command_paths(typer.main.get_command(app)))
    assert ("inspect", "patch") in paths and ("monitor", "alerts", "check") in paths and len(paths) > 40
    runner = CliRunner()
    labelled = []
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "--help" in result.output, path
        if "<bool>" in result.output:
            labelled.append(" ".join(path))
    assert labelled == []
