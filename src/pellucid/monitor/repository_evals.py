"""Evaluation runs and their per-example scores (``pellucid eval``, ``/api/eval``); ``store.evals``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Table, delete, select

from pellucid.monitor import sql
from pellucid.monitor.analytics_records import EvalExampleResult, EvalRunInfo
from pellucid.monitor.db import EvalExample, EvalRun
from pellucid.monitor.repository_base import NotFoundError, Repository, is_uuid

eval_runs: Table = EvalRun.__table__  # type: ignore[assignment]
eval_examples: Table = EvalExample.__table__  # type: ignore[assignment]


class EvalRunRepository(Repository):
    """Store, list, read and delete evaluation runs."""

    def insert_eval_run(self, run: EvalRunInfo) -> str:
        """Store a run and its examples in one transaction; returns the run id."""
        row = {k: v for k, v in run.__dict__.items() if k != "examples"}
        row["results"] = sql.clean_json(run.results)
        row["params"] = sql.clean_json(run.params) or None
        examples = [{"run_id": run.id, **sql.clean_json({k: v for k, v in e.__dict__.items()})} for e in run.examples]
        with self._write() as conn, conn.begin():
            conn.execute(eval_runs.insert(), [row])
            if examples:
                conn.execute(eval_examples.insert(), examples)
        return run.id

    def list_eval_runs(self, *, limit: int = 100, name: str | None = None) -> list[EvalRunInfo]:
        """Runs, newest first (without examples)."""
        stmt = select(eval_runs).order_by(eval_runs.c.created_at.desc(), eval_runs.c.id.desc()).limit(limit)
        if name is not None:
            stmt = stmt.where(eval_runs.c.name == name)
        with self.engine.connect() as conn:
            return [_run_of(r) for r in conn.execute(stmt)]

    def get_eval_run(self, run: str, *, with_examples: bool = True) -> EvalRunInfo:
        """A run by id, or the newest run with that name."""
        cond = eval_runs.c.id == sql.check_id(run) if is_uuid(run) else eval_runs.c.name == run
        stmt = select(eval_runs).where(cond).order_by(eval_runs.c.created_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                known: Sequence[str] = conn.execute(select(eval_runs.c.name).distinct().limit(20)).scalars().all()
                raise NotFoundError(
                    f"No evaluation run with id or name {run!r}. Known names: {', '.join(sorted(known)) or '(none)'}; "
                    "see `pellucid eval runs`."
                )
            examples: list[Row[Any]] = []
            if with_examples:
                examples = list(
                    conn.execute(
                        select(eval_examples).where(eval_examples.c.run_id == row.id).order_by(eval_examples.c.idx)
                    )
                )
        return _run_of(row, examples)

    def delete_eval_run(self, run_id: str) -> bool:
        with self._write() as conn, conn.begin():
            return bool(conn.execute(delete(eval_runs).where(eval_runs.c.id == sql.check_id(run_id))).rowcount)


def _run_of(row: Row[Any], examples: Sequence[Row[Any]] = ()) -> EvalRunInfo:
    m = dict(row._mapping)
    return EvalRunInfo(
        id=m["id"],
        name=m["name"],
        created_at=m["created_at"],
        model=m["model"],
        model_version=m["model_version"],
        prompt_version=m["prompt_version"],
        dataset_path=m["dataset_path"],
        metrics=list(m["metrics"] or []),
        results=dict(m["results"] or {}),
        n_examples=int(m["n_examples"]),
        n_skipped=int(m["n_skipped"]),
        params=dict(m["params"] or {}),
        examples=tuple(
            EvalExampleResult(
                idx=e.idx,
                line=e.line,
                prompt=e.prompt,
                reference=e.reference,
                prediction=e.prediction,
                scores=dict(e.scores or {}),
            )
            for e in examples
        ),
    )
