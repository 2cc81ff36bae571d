"""Batch jobs over data sets: explain, robustness, evaluation, audit and enrichment, locally or on Ray.

    from pellucid.batch import ExplainTask, run_job, read_results
    items = [{"row": i, "prompt": p, "target": None} for i, p in enumerate(prompts)]
    run_job(ExplainTask(method="occlusion"), items, out="results.parquet", backend="ray")
    rows = read_results("results.parquet")

See :mod:`pellucid.batch.runner` for the backends and :mod:`pellucid.batch.sink` for resuming.
"""

from pellucid.batch.explain_task import ExplainTask, explanation_of
from pellucid.batch.runner import BACKENDS, JobReport, RayOptions, run_job
from pellucid.batch.sink import read_results
from pellucid.batch.task import Task

__all__ = ["BACKENDS", "ExplainTask", "JobReport", "RayOptions", "Task", "explanation_of", "read_results", "run_job"]
