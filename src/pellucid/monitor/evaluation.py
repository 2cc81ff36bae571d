"""Offline evaluation runs: score a data set with several metrics, store the run, compare runs.

    data = read_dataset("qa.jsonl")
    run = evaluate(data, "bleu,chrf,rouge,exact_match", name="baseline", generate=my_generate)
    store.evals.insert_eval_run(run)
    compare_runs(store.evals.get_eval_run("baseline"), store.evals.get_eval_run("candidate"))

Model-dependent pieces come in as plain functions, so this module never imports torch:

- ``generate(prompt) -> (text, token_logprobs)`` produces a prediction when the data set has none
  (the CLI passes the LM's greedy generation);
- ``score(prompt, prediction) -> token_logprobs`` gives teacher-forced log-probabilities for
  perplexity of given predictions;
- ``embed(texts) -> [n, dim]`` for semantic similarity.

Metrics are computed by :func:`pellucid.monitor.metrics.compute_metrics`, so custom metrics given as
``"package.module:function"`` work exactly like the built-in names. Perplexity is computed only
for examples with at least one predicted token (an empty prediction has none); the others get
``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.analytics_records import EvalExampleResult, EvalRunInfo
from pellucid.monitor.eval_data import EvalDataset
from pellucid.monitor.metrics import EmbedFn, compute_metrics, expand_metric_names, perplexity
from pellucid.monitor.metrics_base import MetricResult
from pellucid.monitor.records import new_id, utcnow

GenerateFn = Callable[[Any], tuple[str, Sequence[float]]]
ScoreFn = Callable[[Any, str], Sequence[float]]
Progress = Callable[[int, int], None]


def _predictions(
    data: EvalDataset, generate: GenerateFn | None, progress: Progress | None
) -> tuple[list[str], list[Sequence[float] | None]]:
    """Predictions for every item (generated where missing) and the generator's log-probs."""
    missing = [i for i, item in enumerate(data.items) if item.prediction is None]
    if missing and generate is None:
        lines = ", ".join(str(data.items[i].line) for i in missing[:5])
        raise InvalidInputError(
            f"{len(missing)} example(s) have no prediction (lines {lines}...) and no model was given to generate "
            "them; add a 'prediction' field or pass a model."
        )
    preds: list[str] = [item.prediction or "" for item in data.items]
    logprobs: list[Sequence[float] | None] = [None] * len(preds)
    for done, i in enumerate(missing, start=1):
        assert generate is not None
        preds[i], logprobs[i] = generate(data.items[i].prompt)
        if progress is not None:
            progress(done, len(missing))
    return preds, logprobs


def _perplexity(
    data: EvalDataset, preds: list[str], logprobs: list[Sequence[float] | None], score: ScoreFn | None
) -> tuple[MetricResult, list[float | None]]:
    """Perplexity over the non-empty predictions (given ones scored with ``score`` first), and each
    example's value (``None`` where it has no scored prediction)."""
    for i, item in enumerate(data.items):
        if logprobs[i] is None and preds[i]:
            if score is None:
                raise InvalidInputError("perplexity of given predictions needs a model to score them; pass a model.")
            logprobs[i] = score(item.prompt, preds[i])
    scored = [i for i, lp in enumerate(logprobs) if lp is not None and len(lp) > 0]
    if not scored:
        raise InvalidInputError("perplexity needs at least one non-empty prediction.")
    ppl = perplexity([logprobs[i] for i in scored])  # type: ignore[misc]
    by_index = dict(zip(scored, ppl.values, strict=True))
    return ppl, [by_index.get(i) for i in range(len(preds))]


def _example_scores(
    i: int, names: list[str], results: dict[str, MetricResult], ppl_values: list[float | None]
) -> dict[str, float | None]:
    """Example ``i``'s value of every metric."""
    return {m: (ppl_values[i] if m == "perplexity" else float(results[m].values[i])) for m in names}


def _aggregates(results: dict[str, MetricResult], ppl_values: list[float | None]) -> dict[str, Any]:
    """Each metric's aggregate figures (its per-example values left out); perplexity counts the examples it scored."""
    aggregates = {
        metric: {k: v for k, v in result.to_dict().items() if k not in ("values", "name")}
        for metric, result in results.items()
    }
    if "perplexity" in results:
        aggregates["perplexity"]["details"]["n_scored"] = sum(v is not None for v in ppl_values)
    return aggregates


def evaluate(
    data: EvalDataset,
    metrics: str | Sequence[str],
    *,
    name: str | None = None,
    generate: GenerateFn | None = None,
    score: ScoreFn | None = None,
    embed: EmbedFn | None = None,
    model: str | None = None,
    model_version: str | None = None,
    prompt_version: str | None = None,
    progress: Progress | None = None,
) -> EvalRunInfo:
    """Score every usable example of ``data`` with ``metrics``; returns the (unsaved) run."""
    names = expand_metric_names(metrics)
    preds, logprobs = _predictions(data, generate, progress)
    refs = [item.reference for item in data.items]
    others = [n for n in names if n != "perplexity"]
    needs_embed = "semantic_similarity" in others
    if needs_embed and embed is None:
        raise InvalidInputError("semantic_similarity needs an embedding model; pass embed= (the CLI loads MiniLM).")
    results = dict(compute_metrics(others, preds, refs, embed=embed)) if others else {}
    # custom metrics given as "module:function" are stored under the function's name
    computed = iter(results)
    names = [n if n == "perplexity" else next(computed) for n in names]
    ppl_values: list[float | None] = []
    if "perplexity" in names:
        results["perplexity"], ppl_values = _perplexity(data, preds, logprobs, score)
    examples = [
        EvalExampleResult(
            i, item.line, item.prompt, item.reference, preds[i], _example_scores(i, names, results, ppl_values)
        )
        for i, item in enumerate(data.items)
    ]
    generated = sum(item.prediction is None for item in data.items)
    return EvalRunInfo(
        id=new_id(),
        name=name or f"eval-{utcnow():%Y%m%d-%H%M%S}",
        created_at=utcnow(),
        model=model,
        model_version=model_version,
        prompt_version=prompt_version,
        dataset_path=data.path,
        metrics=names,
        results=_aggregates(results, ppl_values),
        n_examples=len(examples),
        n_skipped=len(data.skipped),
        params={"generated": generated, "skipped": [str(s) for s in data.skipped[:100]]},
        examples=tuple(examples),
    )


@dataclass(frozen=True)
class MetricComparison:
    """One metric in two runs: both aggregates, B − A, and which run is better."""

    metric: str
    a: float | None
    b: float | None
    diff: float | None
    better: str | None  # "a", "b", "same" or None when not comparable
    wins: int | None = None  # paired examples where B beats A (same data set only)
    losses: int | None = None
    ties: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare_runs(a: EvalRunInfo, b: EvalRunInfo) -> list[MetricComparison]:
    """Metrics of both runs side by side (union of metrics, A's order first).

    When both runs scored the same examples (same count and prompts), per-example wins, losses
    and ties of B against A are counted too.
    """
    paired = (
        bool(a.examples)
        and len(a.examples) == len(b.examples)
        and all(x.prompt == y.prompt for x, y in zip(a.examples, b.examples, strict=True))
    )
    rows = []
    for metric in dict.fromkeys([*a.metrics, *b.metrics]):
        va, vb = a.aggregate(metric), b.aggregate(metric)
        higher = (a.results.get(metric) or b.results.get(metric) or {}).get("higher_is_better", True)
        diff = None if va is None or vb is None else vb - va
        better = None
        if diff is not None:
            better = "same" if abs(diff) < 1e-12 else ("b" if (diff > 0) == bool(higher) else "a")
        wins = losses = ties = None
        if paired and metric in a.metrics and metric in b.metrics:
            wins = losses = ties = 0
            for x, y in zip(a.examples, b.examples, strict=True):
                sa, sb = x.scores.get(metric), y.scores.get(metric)
                if sa is None or sb is None:
                    continue
                if abs(sb - sa) < 1e-12:
                    ties += 1
                elif (sb > sa) == bool(higher):
                    wins += 1
                else:
                    losses += 1
        rows.append(MetricComparison(metric, va, vb, diff, better, wins, losses, ties))
    return rows
