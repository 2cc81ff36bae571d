"""The README's and docs' shell examples, run: every ``pellucid ...`` line of every fenced ``sh`` block.

Each markdown file's commands run in document order, in-process (one model load for all), in a
temporary folder holding small versions of the files the examples name (``data.jsonl``,
``crows.csv``, a 3-row ``../shared/data/sst2/dev.tsv``...) and a temporary Pellucid home whose
store is seeded with logged calls over the last two weeks (``RECORD_ID`` becomes one of them).
Each must exit 0 without a traceback; `--backend ray` examples run on a local Ray instance,
started by the first of them and shut down after the file. Sampling sizes are capped (``-p steps=128`` runs with
:data:`CAPS`' 8 steps): the test checks that an example works, not its figures.

An example that cannot run here says so in the markdown, visibly, right before its block::

    <!-- doc-test: skip (needs a running server) -->                 every command of the next block
    <!-- doc-test: skip "pellucid serve" (starts a server) -->       the next block's commands with this prefix

The skipped examples are counted and listed (``-s`` shows the list), and each needs a reason.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.S | re.M)
_SKIP = re.compile(r'<!--\s*doc-test:\s*skip(?:\s+"(?P<prefix>[^"]+)")?\s*(?:\((?P<reason>[^)]*)\))?\s*-->')


#: method parameters capped in the examples (``-p NAME=VALUE``): small, still a real run
CAPS = {"steps": 8, "n_samples": 32, "samples": 2}


def small(args: list[str]) -> list[str]:
    """``args`` with every capped ``-p NAME=VALUE`` at most its cap."""
    out = list(args)
    for i, word in enumerate(out[:-1]):
        name, _, value = out[i + 1].partition("=")
        if word in ("-p", "--param") and name in CAPS and value.isdigit():
            out[i + 1] = f"{name}={min(int(value), CAPS[name])}"
    return out


@dataclass(frozen=True)
class Example:
    """One ``pellucid`` command of a fenced block, and why it is skipped (``None``: it runs)."""

    file: str
    line: int
    command: str
    skip: str | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.command}"


def _skips_before(text: str, start: int) -> list[tuple[str | None, str]]:
    """The skip markers between the previous block (or paragraph text) and the block at ``start``."""
    before = text[:start].rstrip()
    found: list[tuple[str | None, str]] = []
    while before.endswith("-->"):
        opening = before.rfind("<!--")
        marker = _SKIP.fullmatch(before[opening:])
        if opening < 0 or marker is None:
            break
        found.append((marker["prefix"], (marker["reason"] or "").strip()))
        before = before[:opening].rstrip()
    return found


def examples(path: Path) -> Iterator[Example]:
    """The ``pellucid`` commands of ``path``'s shell blocks (continued lines joined, comments dropped)."""
    text = path.read_text(encoding="utf-8")
    for block in _FENCE.finditer(text):
        skips = _skips_before(text, block.start())
        first_line = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        n = 0
        while n < len(lines):
            start, command = n, lines[n]
            while command.rstrip().endswith("\\") and n + 1 < len(lines):
                n += 1
                command = command.rstrip()[:-1] + " " + lines[n].strip()
            n += 1
            words = _words(command)
            if not words or words[0] != "pellucid":
                continue
            joined = shlex.join(words)
            reason = next((r for prefix, r in skips if prefix is None or joined.startswith(prefix)), None)
            yield Example(path.relative_to(REPO).as_posix(), first_line + start, joined, reason)


def _words(command: str) -> list[str]:
    """The shell words of ``command`` before its comment (``#`` starting a word outside quotes)."""
    quote, cut = "", len(command)
    for i, ch in enumerate(command):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            cut = i
            break
    return shlex.split(command[:cut])


ALL = [e for path in FILES for e in examples(path)]


def test_caps_shrink_only_the_capped_parameters() -> None:
    assert small(["explain", "x", "-p", "steps=128", "-p", "baseline=pad", "--limit", "200"]) == [
        "explain", "x", "-p", "steps=8", "-p", "baseline=pad", "--limit", "200"
    ]  # fmt: skip


def test_the_harness_finds_the_examples_and_every_skip_has_a_reason() -> None:
    assert len(ALL) >= 30 and any(e.command.startswith("pellucid explain") for e in ALL)
    skipped = [e for e in ALL if e.skip is not None]
    print(f"\n{len(ALL)} doc examples, {len(skipped)} skipped:")
    for e in skipped:
        print(f"  {e}  -- {e.skip}")
    assert all(e.skip for e in skipped), "a doc-test skip marker needs a (reason)"
    assert len(skipped) < len(ALL) / 2, "most examples must run"


@pytest.mark.integration
@pytest.mark.parametrize("path", [p for p in FILES if any(e.skip is None for e in examples(p))], ids=lambda p: p.name)
def test_examples_run(path: Path, doc_workspace, request: pytest.FixtureRequest) -> None:
    from typer.testing import CliRunner

    from pellucid.cli.main import app

    workdir, home, record_id = doc_workspace(path.stem)
    runner = CliRunner()
    request.addfinalizer(_stop_local_ray)  # `--backend ray` examples start one Ray instance per process
    for example in examples(path):
        if example.skip is not None:
            continue
        args = small([record_id if word == "RECORD_ID" else word for word in shlex.split(example.command)[1:]])
        # Ray Data (set up by the first `--backend ray` example) logs INFO lines through a handler bound
        # to the stderr of the run that imported it, closed by the runner since; the CLI hides them
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(workdir)
            result = runner.invoke(app, ["--home", str(home), *args])
        output = result.output
        assert result.exit_code == 0, f"{example}\nexit {result.exit_code}\n{output[-3000:]}\n{result.exception!r}"
        assert "Traceback" not in output, f"{example}\n{output[-3000:]}"


def _stop_local_ray() -> None:
    """Shut down the local Ray instance an example started (its workers hold the bundled models)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
