"""Offline evaluation with a model: generate missing predictions, score given ones, store the run.

:func:`pellucid.monitor.evaluation.evaluate` computes the metrics from plain functions and never
sees a model; this module makes those functions from a loaded model (:func:`model_functions`),
or from the rows of a batch job that already ran the model (:func:`job_functions`), loads the
MiniLM encoder when ``semantic_similarity`` asks for embeddings, and stores the finished run
(:func:`evaluate`, what ``pellucid eval run`` calls).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pellucid.monitor import evaluation
from pellucid.monitor.eval_data import EvalDataset
from pellucid.monitor.evaluation import GenerateFn, ScoreFn
from pellucid.monitor.metrics import EmbedFn, expand_metric_names
from pellucid.service.pool import load_encoder
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.monitor.analytics_records import EvalRunInfo
    from pellucid.monitor.store import Store

Progress = Callable[[int, int], None]


def needs_model(dataset: EvalDataset, metrics: str | Sequence[str]) -> bool:
    """Whether the run needs the model: to generate missing predictions, or for perplexity."""
    return not dataset.has_predictions or "perplexity" in expand_metric_names(metrics)


def model_functions(lm: LM, *, raw: bool = False, max_new_tokens: int = 64) -> tuple[GenerateFn, ScoreFn]:
    """``generate(prompt)`` (greedy, with the answer's log-probabilities) and
    ``score(prompt, prediction)`` (teacher-forced log-probabilities) on ``lm``."""
    chat = not raw and lm.is_chat

    def generate(prompt: Any) -> tuple[str, list[float]]:
        out = lm.generate(prompt, chat=chat, max_new_tokens=max_new_tokens)
        return out.text, out.logprobs

    def score(prompt: Any, prediction: str) -> list[float]:
        return lm.score(prompt, prediction, chat=chat).logprobs

    return generate, score


def job_functions(dataset: EvalDataset, rows: dict[int, dict[str, Any]]) -> tuple[GenerateFn, ScoreFn]:
    """``generate`` and ``score`` answered from a generation job's rows (one per item, by row number)."""

    def key(prompt: Any, prediction: str | None) -> str:
        return json.dumps([prompt, prediction], sort_keys=True)

    found = {key(item.prompt, item.prediction): rows[i] for i, item in enumerate(dataset.items)}

    def generate(prompt: Any) -> tuple[str, list[float]]:
        row = found[key(prompt, None)]
        return str(row["prediction"]), list(row["logprobs"] or [])

    def score(prompt: Any, prediction: str) -> list[float]:
        return list(found[key(prompt, prediction)]["logprobs"] or [])

    return generate, score


def embedder(settings: Settings, metrics: str | Sequence[str]) -> EmbedFn | None:
    """MiniLM's ``embed`` when the metrics need embeddings (``semantic_similarity``), else ``None``."""
    if "semantic_similarity" not in expand_metric_names(metrics):
        return None
    return load_encoder(None, settings).embed


def evaluate(
    store: Store,
    dataset: EvalDataset,
    metrics: str | Sequence[str],
    *,
    settings: Settings,
    lm: LM | None = None,
    raw: bool = False,
    max_new_tokens: int = 64,
    job_rows: dict[int, dict[str, Any]] | None = None,
    name: str | None = None,
    model: str | None = None,
    model_version: str | None = None,
    prompt_version: str | None = None,
    progress: Progress | None = None,
) -> EvalRunInfo:
    """Score ``dataset`` with ``metrics`` and store the run.

    The model's work comes from ``lm`` (generated here), or from ``job_rows`` (a batch job's
    rows, :mod:`pellucid.batch.generate_task`), or from nowhere when every example has its
    prediction and perplexity is not asked. ``model`` names the model in the run when ``lm`` is
    not given.
    """
    generate: GenerateFn | None = None
    score: ScoreFn | None = None
    if lm is not None:
        generate, score = model_functions(lm, raw=raw, max_new_tokens=max_new_tokens)
        model = lm.name
    elif job_rows is not None:
        generate, score = job_functions(dataset, job_rows)
    run = evaluation.evaluate(
        dataset, metrics, name=name, generate=generate, score=score, embed=embedder(settings, metrics), model=model,
        model_version=model_version, prompt_version=prompt_version, progress=progress,
    )  # fmt: skip
    store.evals.insert_eval_run(run)
    return run
