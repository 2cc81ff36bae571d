"""Progress when stderr is piped: plain ``done/total`` lines from every long command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pellucid.cli import progress as progress_module
from pellucid.cli.main import app

LINE = re.compile(r"^(?P<what>[^\n]+?): (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\) [\d.]+ s$", re.M)


def _lines(text: str, what: str) -> list[tuple[int, int]]:
    return [(int(m["done"]), int(m["total"])) for m in LINE.finditer(text) if m["what"] == what]


def test_piped_progress_writes_a_line_per_tenth_and_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_module.progress() as shown:  # pytest's stderr is not a terminal
        callback = shown.callback("samples")
        for done in range(1, 101):
            callback(done, 100)
        callback(100, 100)  # a repeated final call writes nothing more
    lines = _lines(capsys.readouterr().err, "samples")
    assert lines == [(1, 100)] + [(d, 100) for d in range(10, 101, 10)], "the first step, each tenth, once"


def test_piped_progress_writes_every_interval_between_tenths(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELLUCID_PROGRESS_SECONDS", "0")
    with progress_module.progress() as shown:
        for done in range(1, 5):
            shown.update("prompts", done, 1000)
    assert _lines(capsys.readouterr().err, "prompts") == [(1, 1000), (2, 1000), (3, 1000), (4, 1000)]


def test_quiet_progress_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_module.progress(quiet=True) as shown:
        shown.update("checks", 1, 1)
    assert capsys.readouterr().err == ""


def _invoke(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_inspect_sweeps_report_layers_when_piped(tmp_path: Path, tiny_dir: Path, tiny_lm) -> None:
    layers = tiny_lm.n_layers
    out = _invoke(tmp_path, "inspect", "trace", "the cat sat on the mat", "--target", " the", "--subject", "cat",
                  "--samples", "2", "--model", str(tiny_dir))  # fmt: skip
    assert _lines(out, "layers restored")[-1] == (layers, layers)
    out = _invoke(tmp_path, "inspect", "patch", "the cat sat on", "the dog sat on", "--target", " the",
                  "--model", str(tiny_dir))  # fmt: skip
    assert _lines(out, "layers")[-1] == (layers, layers)
    out = _invoke(tmp_path, "inspect", "attribution-patch", "the cat sat on", "the dog sat on", "--target", " the",
                  "--model", str(tiny_dir))  # fmt: skip
    assert _lines(out, "exact patching (for comparison), layers")[-1] == (layers, layers)


def test_explain_reports_perturbed_prompts_when_piped(tmp_path: Path, tiny_dir: Path) -> None:
    out = _invoke(tmp_path, "explain", "the cat sat on the mat", "--target", " ok", "--raw", "--method", "occlusion",
                  "--model", str(tiny_dir))  # fmt: skip
    done, total = _lines(out, "occlusion: perturbed prompts")[-1]
    assert done == total > 0
