"""Progress of long commands: a bar in a terminal, a periodic line when stderr is piped.

Every long verb already reports through a callback, ``progress(done, total)`` (samples,
prompts, layers, checks); commands hand it :meth:`Progress.callback` and never draw anything
themselves. In a terminal each description gets a Rich bar showing ``done/total`` and the time
left. When stderr is a pipe or a file (CI logs, ``nohup``), a bar would print nothing useful, so
one plain line is written instead each time the fraction crosses another tenth, at least every
``PELLUCID_PROGRESS_SECONDS`` seconds (default 5) while it moves, and when it finishes::

    occlusion: 12/40 (30%) 3.1 s
    training transcoders: 409600/1000000 (40%) mean FVE 0.512 L0 31.8 1893.0 s

``--json`` commands pass ``quiet=True``: their stderr stays as it was (errors only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from pellucid.cli.common import err_console

Callback = Callable[[int, int], None]

#: Seconds between two progress lines of one task when stderr is not a terminal.
DEFAULT_INTERVAL = 5.0


def _interval() -> float:
    raw = os.environ.get("PELLUCID_PROGRESS_SECONDS", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


class _Line:
    """When to write the next plain progress line of one task."""

    def __init__(self, description: str, interval: float) -> None:
        self.description = description
        self.interval = interval
        self.started = self.last = time.monotonic()
        self.tenth = -1
        self.finished = False

    def update(self, done: int, total: int | None, note: str = "") -> None:
        now = time.monotonic()
        tenth = int(10 * done / total) if total else -1
        finished = bool(total) and done >= (total or 0)
        if self.finished or not (tenth > self.tenth or finished or now - self.last >= self.interval):
            return
        self.tenth, self.last, self.finished = max(tenth, self.tenth), now, finished
        share = f"{done}/{total} ({100 * done // total}%)" if total else f"{done}"
        extra = f" {note}" if note else ""
        err_console.print(
            f"{self.description}: {share}{extra} {now - self.started:.1f} s", markup=False, highlight=False
        )


class Progress:
    """One progress display for a command: tasks by description, drawn or written as lines."""

    def __init__(self, bar: RichProgress | None, quiet: bool) -> None:
        self._bar = bar
        self._quiet = quiet
        self._tasks: dict[str, TaskID] = {}
        self._lines: dict[str, _Line] = {}
        self._interval = _interval()

    def update(self, description: str, done: int, total: int | None, note: str = "") -> None:
        """``description`` is at ``done`` of ``total`` (``None``: total not known yet); ``note``: current figures."""
        if self._quiet:
            return
        if self._bar is not None:
            if description not in self._tasks:
                self._tasks[description] = self._bar.add_task(description, total=total, note=note)
            self._bar.update(self._tasks[description], completed=done, total=total, note=note)
            return
        line = self._lines.setdefault(description, _Line(description, self._interval))
        line.update(done, total, note)

    def callback(self, description: str) -> Callback:
        """``progress(done, total)`` for a library call, shown under ``description``."""
        return lambda done, total: self.update(description, done, total)


@contextmanager
def progress(quiet: bool = False) -> Iterator[Progress]:
    """A :class:`Progress` for the ``with`` block: bars in a terminal, lines when piped, nothing if quiet."""
    if quiet or not err_console.is_terminal:
        yield Progress(None, quiet)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=err_console, transient=True) as bar:
        yield Progress(bar, quiet)
