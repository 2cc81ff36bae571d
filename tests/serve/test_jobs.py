"""The job registry: queueing behind one worker, progress, cancellation at progress points, errors,
and the bounded history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from pellucid.errors import InvalidInputError
from pellucid.serve.jobs import Job, JobNotFoundError, JobRegistry, JobStateError, TooManyJobsError


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def steps_until_released(release: threading.Event, steps: int = 3, items: int = 100) -> Callable[[Job], str]:
    """Work of ``steps`` steps of ``items`` items each; it blocks on its first item until ``release``."""

    def work(job: Job) -> str:
        for s in range(steps):
            job.begin_step(f"step {s}")
            for i in range(items):
                if s == 0 and i == 1:
                    release.wait(10)
                job.step_progress(i + 1, items)
            job.end_step({"step": s})
        return "finished"

    return work


def test_a_job_runs_reports_progress_and_keeps_its_result():
    registry = JobRegistry()
    release = threading.Event()
    job = registry.submit("demo", steps_until_released(release), total=3, params={"x": 1})
    wait_for(lambda: job.step_done == 1)
    state = job.to_dict()
    assert state["status"] == "running" and state["params"] == {"x": 1}
    assert state["progress"] == {
        "done": 0, "total": 3, "current": "step 0", "current_done": 1, "current_total": 100, "fraction": 0.0033,
    }  # fmt: skip
    release.set()
    wait_for(lambda: not job.active)
    assert job.status == "done" and job.result == "finished" and job.error is None
    assert [s["step"] for s in job.steps] == [0, 1, 2] and job.fraction() == 1.0
    assert registry.get(job.id) is job and registry.jobs("demo") == [job] and registry.jobs("other") == []


def test_cancel_stops_at_the_next_progress_point():
    registry = JobRegistry()
    release = threading.Event()
    job = registry.submit("demo", steps_until_released(release), total=3)
    wait_for(lambda: job.step_done == 1)
    assert registry.cancel(job.id) is job and job.to_dict()["cancel_requested"]
    release.set()
    wait_for(lambda: not job.active)
    assert job.status == "cancelled" and "cancelled" in str(job.error)
    assert job.step_done == 2 and job.steps == []  # the first progress point after the cancel stopped it
    with pytest.raises(JobStateError, match="cancelled already"):
        registry.cancel(job.id)


def test_a_cancel_after_the_last_progress_point_still_ends_the_job_cancelled():
    """The user asked to stop: a job whose last stretch has no progress point must not then say done."""
    registry = JobRegistry()
    asked, release = threading.Event(), threading.Event()

    def work(job: Job) -> str:
        job.begin_step("only step")
        asked.set()
        release.wait(10)  # e.g. the attributions at the end of an audit's last check
        return "finished"

    job = registry.submit("demo", work, total=1)
    asked.wait(10)
    registry.cancel(job.id)
    release.set()
    wait_for(lambda: not job.active)
    assert job.status == "cancelled" and job.result is None


def test_jobs_wait_for_the_worker_and_a_queued_job_cancels_before_it_starts():
    registry = JobRegistry(workers=1)
    release = threading.Event()
    first = registry.submit("demo", steps_until_released(release), total=3)
    wait_for(lambda: first.status == "running")
    second = registry.submit("demo", lambda job: "second")
    time.sleep(0.3)
    assert second.status == "queued" and second.to_dict()["started_at"] is None
    registry.cancel(second.id)
    wait_for(lambda: second.status == "cancelled")
    assert second.started_at is None and "before it started" in str(second.error)
    third = registry.submit("demo", lambda job: "third")
    release.set()
    wait_for(lambda: third.status == "done")
    assert first.status == "done" and third.result == "third"


def test_failures_keep_the_message():
    registry = JobRegistry()

    def bad_input(job: Job) -> None:
        raise InvalidInputError("the prompt is empty")

    def bug(job: Job) -> None:
        raise ZeroDivisionError("division by zero")

    one, two = registry.submit("demo", bad_input), registry.submit("demo", bug)
    wait_for(lambda: not one.active and not two.active)
    assert (one.status, one.error) == ("failed", "the prompt is empty")
    assert two.status == "failed" and "ZeroDivisionError: division by zero (a bug" in str(two.error)


def test_unknown_ids_history_and_limits():
    registry = JobRegistry(history=2, max_active=2)
    with pytest.raises(JobNotFoundError, match="No job 'nope'"):
        registry.get("nope")
    done = [registry.submit("demo", lambda job, n=n: n) for n in range(4)]
    wait_for(lambda: all(not j.active for j in done))
    kept = registry.jobs()
    assert [j.result for j in kept] == [3, 2]  # newest first, the two oldest forgotten
    with pytest.raises(JobNotFoundError):
        registry.get(done[0].id)
    release = threading.Event()
    busy = [registry.submit("demo", steps_until_released(release)) for _ in range(2)]
    with pytest.raises(TooManyJobsError, match="at most 2"):
        registry.submit("demo", lambda job: None)
    registry.shutdown()
    release.set()
    wait_for(lambda: all(j.status == "cancelled" for j in busy))
