"""Replaying a durable journal into the store after a crash, exactly once.

At a durable start, :func:`replay` looks at every run in the journal folder whose lock no live
process holds (the kernel released it when its process died), reads its segments — skipping a
torn tail or corrupt frames with a warning — and inserts the records in batches. The store's
``ON CONFLICT DO NOTHING`` on record ids makes this idempotent: records that were in fact stored
before the crash are counted as ``already_stored`` and written no second time, and a replay
interrupted half-way (a second crash) is simply done again at the next start.

A run's files are deleted only after its records are committed. A database that refuses a record
for good (a value it cannot hold) gets it logged and counted in ``refused``; a database that is
unreachable stops the replay and leaves the files for the next start.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pellucid.monitor.journal import try_lock
from pellucid.monitor.journal_format import read_segment
from pellucid.monitor.records import NewRecord
from pellucid.monitor.repository import Repository
from pellucid.monitor.writer import _is_transient, describe_error

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(?P<run>\d{20}-\d+)\.(?P<n>\d{6})\.seg$")


@dataclass
class ReplayReport:
    """What a replay found and did.

    Attributes:
        runs: crashed runs replayed (their files are gone afterwards).
        live_runs: runs skipped because their process still holds the lock.
        records: intact records read from the journal.
        inserted: records the store did not have yet (written now).
        already_stored: records the store had (committed before the crash): not written again.
        refused: records the database rejected for good (logged).
        corrupt_frames / torn_bytes: damage skipped with a warning.
        error: why the replay stopped early (the database is unreachable), if it did.
    """

    runs: int = 0
    live_runs: int = 0
    records: int = 0
    inserted: int = 0
    already_stored: int = 0
    refused: int = 0
    corrupt_frames: int = 0
    torn_bytes: int = 0
    error: str | None = None
    segments: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def replay(folder: Path, repo: Repository, *, batch_size: int = 500) -> ReplayReport:
    """Write every record of the crashed runs in ``folder`` into ``repo`` once, then delete their files."""
    report = ReplayReport()
    folder = Path(folder)
    if not folder.is_dir():
        return report
    runs: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        match = _SEGMENT.match(path.name)
        if match:
            runs.setdefault(match["run"], []).append(path)
        elif path.suffix == ".lock":
            runs.setdefault(path.stem, [])
    for run, segments in runs.items():
        lock_fd = try_lock(folder / f"{run}.lock")
        if lock_fd is None:
            report.live_runs += 1
            continue
        try:
            if not _replay_run(segments, repo, batch_size, report):
                return report  # the database is unreachable: keep the files for the next start
            for path in segments:
                path.unlink(missing_ok=True)
            (folder / f"{run}.lock").unlink(missing_ok=True)
            report.runs += 1
        finally:
            os.close(lock_fd)
    if report.records or report.corrupt_frames or report.torn_bytes:
        log.warning(
            "Replayed the durable journal %s: %d records read, %d written, %d already stored, %d refused; "
            "%d corrupt frames and %d torn bytes skipped.",
            folder,
            report.records,
            report.inserted,
            report.already_stored,
            report.refused,
            report.corrupt_frames,
            report.torn_bytes,
        )
    return report


def _replay_run(segments: list[Path], repo: Repository, batch_size: int, report: ReplayReport) -> bool:
    """Insert one run's records; False when the database could not be reached (report.error set)."""
    for path in segments:
        read = read_segment(path)
        report.segments.append(path.name)
        report.records += len(read.records)
        report.corrupt_frames += read.corrupt_frames
        report.torn_bytes += read.torn_bytes
        for start in range(0, len(read.records), batch_size):
            try:
                _insert(repo, read.records[start : start + batch_size], report)
            except Exception as exc:
                report.error = describe_error(exc)
                log.error(
                    "The durable journal could not be replayed (%s); its files stay in %s for the next start.",
                    report.error,
                    path.parent,
                )
                return False
    return True


def _insert(repo: Repository, batch: Sequence[NewRecord], report: ReplayReport) -> None:
    """Insert ``batch``; a record the database refuses for good is isolated, logged and counted."""
    try:
        new = repo.insert_records(batch)
    except Exception as exc:
        if _is_transient(exc) or len(batch) == 0:
            raise
        if len(batch) == 1:
            log.error("Journaled record %s refused by the database: %s", batch[0].id, describe_error(exc))
            report.refused += 1
            return
        half = len(batch) // 2
        _insert(repo, batch[:half], report)
        _insert(repo, batch[half:], report)
        return
    report.inserted += new
    report.already_stored += len(batch) - new
