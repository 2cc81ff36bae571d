"""Background jobs for computations too long for one HTTP request (an audit runs for minutes).

A :class:`JobRegistry` runs each submitted function in its own thread, at most ``workers`` at a
time (the others wait as ``queued``), and remembers the last ``history`` finished jobs so their
status and results can still be read. A job moves through::

    queued -> running -> done | failed | cancelled

The function receives its :class:`Job` and reports progress through it: :meth:`Job.begin_step`
when a step (an audit check) starts, :meth:`Job.step_progress` as the step works through its
items, :meth:`Job.end_step` when it ends. :meth:`JobRegistry.cancel` only sets the job's cancel
event; the next progress call raises :class:`~pellucid.errors.Cancelled`, so the computation
stops at its next progress point and the job ends ``cancelled``. Any other error ends it
``failed`` with the message.

Errors carry the HTTP status a server should answer: an unknown id is
:class:`JobNotFoundError` (404), an action that does not fit the job's state (cancelling a
finished job, reading the result of an unfinished one) :class:`JobStateError` (409), too many
jobs at once :class:`TooManyJobsError` (429).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pellucid.errors import Cancelled, PellucidError

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
_WAIT_POLL = 0.1  # seconds between checks of the cancel event while a job waits for a worker


class JobNotFoundError(PellucidError, LookupError):
    """No job has this id (it never existed, or left the bounded history)."""

    status_code = 404


class JobStateError(PellucidError):
    """The job is not in a state where this action makes sense."""

    status_code = 409


class TooManyJobsError(PellucidError):
    """Too many jobs are queued or running already."""

    status_code = 429


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


@dataclass(eq=False)
class Job:
    """One background computation: its state, progress, result or error, and its cancel event.

    Attributes:
        id: a random hex id.
        kind: what it computes (``"audit"``).
        params: what it was asked (shown back in status answers).
        status: queued, running, done, failed or cancelled.
        total: steps to do (``0``: unknown); done: steps finished.
        current: the step running now (or where a cancelled or failed job stopped);
            step_done / step_total: its progress through its items.
        steps: a summary of each finished step, in order.
        result: what the function returned (when ``done``).
        error: why it failed (when ``failed``), or what was cancelled.
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    total: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: Status = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    done: int = 0
    current: str | None = None
    step_done: int = 0
    step_total: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the job was asked to stop."""
        if self.cancel_event.is_set():
            raise Cancelled(f"The {self.kind} job {self.id} was cancelled.")

    def begin_step(self, name: str) -> None:
        """A step starts (a progress point: raises :class:`Cancelled` if cancelled)."""
        self.check_cancelled()
        self.current, self.step_done, self.step_total = name, 0, 0

    def step_progress(self, done: int, total: int) -> None:
        """The current step is at item ``done`` of ``total`` (a progress point)."""
        self.step_done, self.step_total = done, total
        self.check_cancelled()

    def end_step(self, summary: dict[str, Any] | None = None) -> None:
        """The current step finished; ``summary`` is kept in :attr:`steps`."""
        self.done += 1
        self.steps.append(dict(summary or {"step": self.current}))

    def fraction(self) -> float:
        """Overall progress in [0, 1] (finished steps plus the share of the current one)."""
        if self.status == "done":
            return 1.0
        if self.total <= 0:
            return 0.0
        inner = self.step_done / self.step_total if self.step_total > 0 and self.status != "queued" else 0.0
        return max(0.0, min(1.0, (self.done + inner) / self.total))

    def to_dict(self) -> dict[str, Any]:
        """The job's state as JSON (without the result, which its owner serialises)."""
        end = self.finished_at if self.finished_at is not None else time.time()
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "params": self.params,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "seconds": None if self.started_at is None else round(end - self.started_at, 3),
            "cancel_requested": self.cancel_event.is_set(),
            "progress": {
                "done": self.done,
                "total": self.total,
                "current": self.current,
                "current_done": self.step_done,
                "current_total": self.step_total,
                "fraction": round(self.fraction(), 4),
            },
            "steps": list(self.steps),
            "error": self.error,
        }

    def _finish(self, status: Status, *, result: Any = None, error: str | None = None) -> None:
        self.result, self.error = result, error
        self.finished_at = time.time()
        self.status = status


Work = Callable[[Job], Any]


class JobRegistry:
    """Runs jobs in threads, ``workers`` at a time, and keeps the last ``history`` finished ones."""

    def __init__(self, *, workers: int = 1, history: int = 20, max_active: int = 8) -> None:
        if workers < 1 or history < 0 or max_active < 1:
            raise ValueError("workers and max_active must be at least 1, history at least 0")
        self.history = history
        self.max_active = max_active
        self._slots = threading.BoundedSemaphore(workers)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Work, *, total: int = 0, params: dict[str, Any] | None = None) -> Job:
        """Queue ``work(job)`` in a new thread and return the job at once."""
        job = Job(kind=kind, params=dict(params or {}), total=total)
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.active)
            if active >= self.max_active:
                raise TooManyJobsError(
                    f"{active} jobs are queued or running already (at most {self.max_active}); "
                    "wait for one to finish or cancel one."
                )
            self._jobs[job.id] = job
            self._prune()
        thread = threading.Thread(target=self._run, args=(job, work), name=f"pellucid-{kind}-{job.id[:8]}", daemon=True)
        thread.start()
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id, or :class:`JobNotFoundError`."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            shown = job_id if len(job_id) <= 40 else job_id[:37] + "..."
            raise JobNotFoundError(
                f"No job {shown!r}: it never existed, or it finished long enough ago to leave the history "
                f"(the last {self.history} finished jobs are kept)."
            )
        return job

    def jobs(self, kind: str | None = None) -> list[Job]:
        """Every remembered job (of ``kind``), newest first."""
        with self._lock:
            found = [j for j in self._jobs.values() if kind is None or j.kind == kind]
        return found[::-1]

    def cancel(self, job_id: str) -> Job:
        """Ask a queued or running job to stop (it ends at its next progress point)."""
        job = self.get(job_id)
        if not job.active:
            raise JobStateError(f"Job {job.id} is {job.status} already; there is nothing to cancel.")
        job.cancel_event.set()
        return job

    def shutdown(self) -> None:
        """Cancel every queued or running job (a server shutting down)."""
        for job in self.jobs():
            if job.active:
                job.cancel_event.set()

    def _prune(self) -> None:
        finished = [j.id for j in self._jobs.values() if not j.active]
        for job_id in finished[: max(0, len(finished) - self.history)]:
            del self._jobs[job_id]

    def _run(self, job: Job, work: Work) -> None:
        while not self._slots.acquire(timeout=_WAIT_POLL):
            if job.cancel_event.is_set():
                job._finish("cancelled", error=f"The {job.kind} job was cancelled before it started.")
                return
        try:
            job.check_cancelled()
            job.started_at = time.time()
            job.status = "running"
            result = work(job)
            job.check_cancelled()  # asked to stop after its last progress point: it still ends cancelled
        except Cancelled as exc:
            job._finish("cancelled", error=str(exc))
        except PellucidError as exc:
            job._finish("failed", error=str(exc))
        except Exception as exc:  # a bug: keep the server up and say what happened
            log.exception("%s job %s failed", job.kind, job.id)
            job._finish("failed", error=f"{type(exc).__name__}: {exc} (a bug in Pellucid; please report it)")
        else:
            job._finish("done", result=result)
        finally:
            self._slots.release()
            with self._lock:
                self._prune()
