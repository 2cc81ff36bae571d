"""``run_robustness()``: how often do small edits of the inputs flip the model's answers?

For each example of a data set, each generator edits the example's *text* (never the prompt
template around it: a typo in "Sentiment:" would test something else), the template is filled
in, and the model answers every original and edited prompt:

- ``task="classify"``: the answer is the most likely of the answer ``options`` (each scored
  teacher-forced, all prompts in batched passes, identical prompts scored once); an edit
  *flips* when the chosen option changes. The *target* is the label's option when labels are
  given, else the original answer; ``delta_logprob`` is log p(target | edited) − log p(target |
  original).
- ``task="generate"``: the answer is a greedy generation; an edit flips when the answers differ
  (case and punctuation folded); ``delta_logprob`` is the change of log p(original answer).

Per generator: the flip rate over edits with a Wilson 95 % interval, the share of examples with
at least one flip, the mean change of the target's log-probability (bootstrap interval),
accuracy before/after when labels are given, and the worst edits (flips first, then the largest
drop). Examples a generator cannot edit (no synonym in the lexicon, no demographic term) are
counted as ``not_applicable``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.counterfactual.base import Edit, GenContext
from pellucid.counterfactual.batch_score import score_continuations, score_options
from pellucid.counterfactual.dataset import Example, resolve_label
from pellucid.counterfactual.degenerate import classifier_warnings
from pellucid.counterfactual.metrics import bootstrap_interval, exact_match, wilson_interval
from pellucid.counterfactual.registry import generate_edits, get_generator
from pellucid.errors import InvalidInputError
from pellucid.types import _json_safe

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

Progress = Callable[[str, int, int], None]  # (stage, done, total)
TASKS = ("classify", "generate")


@dataclass
class RobustnessConfig:
    """What to run. ``params`` maps generator name -> its parameters."""

    generators: Sequence[str]
    task: str = "classify"
    options: Sequence[str] | None = None
    template: str = "{text}"
    chat: bool | None = None
    system: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    max_new_tokens: int = 16
    batch_tokens: int = 2048
    worst_k: int = 5

    def check(self) -> None:
        if self.task not in TASKS:
            raise InvalidInputError(f"task={self.task!r}; choose classify or generate.")
        if "{text}" not in self.template:
            raise InvalidInputError(
                f"The template {self.template!r} has no {{text}} placeholder; add one where the text goes."
            )
        if self.task == "classify" and (not self.options or len(self.options) < 2):
            raise InvalidInputError(
                "task=classify needs at least two answer options, e.g. --options ' negative, positive'."
            )
        for name in self.generators:
            get_generator(name).resolve_params(self.params.get(name, {}))


@dataclass(frozen=True)
class RobustnessReport:
    """Flip rates per generator, with the worst edits."""

    model: str
    task: str
    config: dict[str, Any]
    n_examples: int
    skipped_empty: int
    accuracy_before: float | None
    generators: dict[str, dict[str, Any]]
    worst: dict[str, list[dict[str, Any]]]
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "kind": "robustness",
                "model": self.model,
                "task": self.task,
                "config": self.config,
                "n_examples": self.n_examples,
                "skipped_empty": self.skipped_empty,
                "accuracy_before": self.accuracy_before,
                "generators": self.generators,
                "worst": self.worst,
                "seconds": self.seconds,
                "meta": self.meta,
            }
        )


@dataclass
class _Item:
    example: int  # index into examples
    generator: str
    edit: Edit
    prompt: int  # index into the unique prompt list


def run_robustness(
    lm: LM,
    examples: Sequence[Example],
    config: RobustnessConfig,
    *,
    encoder: Encoder | None = None,
    skipped_empty: int = 0,
    progress: Progress | None = None,
) -> RobustnessReport:
    """Run every generator over every example; see the module docstring for the figures."""
    started = time.perf_counter()
    kept = [ex for ex in examples if ex.text.strip()]  # empty texts are skipped and counted, never fatal
    rows = robustness_rows(lm, kept, config, encoder=encoder, progress=progress)
    return summarise_rows(
        rows, config, model=lm.name, skipped_empty=skipped_empty + len(examples) - len(kept),
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def robustness_rows(
    lm: LM,
    examples: Sequence[Example],
    config: RobustnessConfig,
    *,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """The per-example and per-edit facts :func:`summarise_rows` turns into a report.

    Rows, in example order: ``kind="example"`` (the original answer and whether it is correct),
    then for each generator either its edits (``kind="edit"``: edited text, answers before and
    after, ``flipped``, ``delta_logprob``, correctness before/after) or one
    ``kind="not_applicable"`` row. Each example's figures depend only on the example, its row
    number (the generators' seed) and the configuration, so rows of different blocks of a data
    set can be computed apart — by a batch job on several workers — and summarised together.
    """
    config.check()
    if not examples:
        raise InvalidInputError("Every example's text is empty; give a data set with text in it.")
    labels = _labels(examples, config)
    prompts: dict[str, int] = {}

    def prompt_index(text: str) -> int:
        return prompts.setdefault(config.template.replace("{text}", text), len(prompts))

    originals = [prompt_index(ex.text) for ex in examples]
    items, not_applicable = _collect_edits(lm, examples, config, encoder, prompt_index, progress)
    texts = list(prompts)
    ids = [lm.encode(t, chat=config.chat, system=config.system).ids for t in texts]
    if config.task == "classify":
        answers, target_lp = _classify(lm, ids, config, progress)
    else:
        answers, target_lp = _generate(lm, texts, ids, originals, items, config, progress)

    by_example: dict[int, list[_Item]] = {}
    for it in items:
        by_example.setdefault(it.example, []).append(it)
    rows: list[dict[str, Any]] = []
    for i, ex in enumerate(examples):
        na = [name for name in config.generators if (i, name) in not_applicable]
        label = None if labels is None else labels[i]
        rows += _example_rows(ex, originals[i], by_example.get(i, []), na, label, answers, target_lp, config)
    return rows


def _example_rows(
    ex: Example,
    o: int,
    items: list[_Item],
    not_applicable: list[str],
    label: Any,
    answers: list[Any],
    target_lp: Callable[[int, int, Any], float],
    config: RobustnessConfig,
) -> list[dict[str, Any]]:
    """One example's rows: the example (original prompt ``o``), its inapplicable generators, then its edits."""

    def correct(answer: Any) -> bool | None:
        return None if label is None else _correct(answer, label, config)

    rows: list[dict[str, Any]] = [{"kind": "example", "row": ex.row, "original": ex.text, "answer": answers[o],
                                   "correct": correct(answers[o])}]  # fmt: skip
    rows += [{"kind": "not_applicable", "row": ex.row, "generator": name} for name in not_applicable]
    for it in items:
        target = label if (label is not None and config.task == "classify") else answers[o]
        before, after = answers[o], answers[it.prompt]
        flipped = before != after if config.task == "classify" else not exact_match(str(before), str(after))
        rows.append({
            "kind": "edit", "row": ex.row, "generator": it.generator, "edit": it.edit.label, "original": ex.text,
            "edited": it.edit.text, "answer_before": before, "answer_after": after, "flipped": bool(flipped),
            "delta_logprob": target_lp(it.prompt, o, target) - target_lp(o, o, target),
            "correct_before": correct(before), "correct_after": correct(after),
        })  # fmt: skip
    return rows


def check_labels(examples: Sequence[Example], config: RobustnessConfig) -> None:
    """Fail early when some examples have labels and others not (or a label is not an option)."""
    _labels([ex for ex in examples if ex.text.strip()], config)


def _collect_edits(
    lm: LM,
    examples: Sequence[Example],
    config: RobustnessConfig,
    encoder: Encoder | None,
    prompt_index: Callable[[str], int],
    progress: Progress | None,
) -> tuple[list[_Item], set[tuple[int, str]]]:
    """Every generator's edits of every example; ``not_applicable`` holds (example, generator) with none.

    Edits that leave an empty text (dropping the only word) are discarded like inapplicable ones.
    """
    ctx = GenContext(
        lm=lm,
        encoder=encoder,
        options=config.options,
        prompt_template=config.template,
        chat=config.chat,
        system=config.system,
    )
    items: list[_Item] = []
    not_applicable: set[tuple[int, str]] = set()
    total = len(examples) * len(config.generators)
    for i, ex in enumerate(examples):
        for k, name in enumerate(config.generators):
            ctx.seed = config.seed * 1_000_003 + ex.row  # per-example seed: stable when rows are added
            edits = [e for e in generate_edits(ex.text, name, ctx, **config.params.get(name, {})) if e.text.strip()]
            if not edits:
                not_applicable.add((i, name))
            items += [_Item(i, name, e, prompt_index(e.text)) for e in edits]
            if progress is not None:
                progress("edit", i * len(config.generators) + k + 1, total)
    return items, not_applicable


def _labels(examples: Sequence[Example], config: RobustnessConfig) -> list[Any] | None:
    given = [ex.label is not None for ex in examples]
    if not any(given):
        return None
    if not all(given):
        missing = next(ex.row for ex in examples if ex.label is None)
        raise InvalidInputError(f"Row {missing} has no label while others do; label every row or pass --no-labels.")
    if config.task == "classify":
        return [resolve_label(ex.label, config.options or [], ex.row) for ex in examples]
    return [str(ex.label) for ex in examples]


def _correct(answer: Any, label: Any, config: RobustnessConfig) -> bool:
    return bool(answer == label) if config.task == "classify" else exact_match(str(answer), str(label))


TargetScore = Callable[[int, int, Any], float]  # (prompt, original prompt, target) -> log p(target | prompt)


def _classify(
    lm: LM, ids: list[list[int]], config: RobustnessConfig, progress: Progress | None
) -> tuple[list[Any], TargetScore]:
    """Answers (option index) of every prompt; the target score reads the option table."""
    options = [lm.encode_target(o) for o in config.options or []]
    report = (lambda d, t: progress("score", d, t)) if progress else None
    table = score_options(lm, ids, options, batch_tokens=config.batch_tokens, progress=report)
    return [int(a) for a in table.argmax(1)], lambda p, _o, target: float(table[p, target])


def _generate(
    lm: LM,
    texts: list[str],
    ids: list[list[int]],
    originals: list[int],
    items: list[_Item],
    config: RobustnessConfig,
    progress: Progress | None,
) -> tuple[list[Any], TargetScore]:
    """Greedy answers of every prompt; the target score is log p(the example's original answer | prompt)."""
    answers: list[str] = []
    answer_ids: list[list[int]] = []
    for k, text in enumerate(texts):
        gen = lm.generate(text, chat=config.chat, system=config.system, max_new_tokens=config.max_new_tokens)
        answers.append(gen.text)
        answer_ids.append(gen.token_ids or lm.encode_target(" "))
        if progress is not None:
            progress("generate", k + 1, len(texts))
    pairs = sorted({(o, o) for o in originals} | {(it.prompt, originals[it.example]) for it in items})
    scores = score_continuations(
        lm, [ids[p] for p, _ in pairs], [answer_ids[o] for _, o in pairs], batch_tokens=config.batch_tokens
    )
    table = {pair: float(s.sum()) for pair, s in zip(pairs, scores)}
    return answers, lambda p, o, _target: table[(p, o)]


def _generator_stats(mine: list[dict[str, Any]], not_applicable: int, labelled: bool, seed: int) -> dict[str, Any]:
    """One generator's figures over its edit rows: flip rates (per edit, with a Wilson interval, and
    per example), the mean change of the target's log-probability (bootstrap interval) and accuracy."""
    n = len(mine)
    flips = sum(bool(r["flipped"]) for r in mine)
    deltas = [float(r["delta_logprob"]) for r in mine]
    flipped_examples = {r["row"] for r in mine if r["flipped"]}
    edited_examples = {r["row"] for r in mine}
    lo, hi = wilson_interval(flips, n)
    entry: dict[str, Any] = {
        "edits": n,
        "examples_edited": len(edited_examples),
        "not_applicable": not_applicable,
        "flips": flips,
        "flip_rate": flips / n if n else 0.0,
        "flip_rate_ci95": [lo, hi],
        "example_flip_rate": len(flipped_examples) / len(edited_examples) if edited_examples else 0.0,
        "mean_delta_logprob": float(np.mean(deltas)) if deltas else 0.0,
        "mean_delta_logprob_ci95": list(bootstrap_interval(deltas, seed=seed)) if deltas else [0.0, 0.0],
    }
    if labelled and n:
        entry["accuracy_before"] = float(np.mean([bool(r["correct_before"]) for r in mine]))
        entry["accuracy_after"] = float(np.mean([bool(r["correct_after"]) for r in mine]))
    return entry


def summarise_rows(
    rows: Sequence[dict[str, Any]],
    config: RobustnessConfig,
    *,
    model: str,
    skipped_empty: int = 0,
    seconds: float = 0.0,
) -> RobustnessReport:
    """The report of :func:`robustness_rows`' rows (of one call, or of many blocks in row order)."""
    examples = [r for r in rows if r["kind"] == "example"]
    edits = [r for r in rows if r["kind"] == "edit"]
    labelled = bool(examples) and examples[0]["correct"] is not None
    stats: dict[str, dict[str, Any]] = {}
    worst: dict[str, list[dict[str, Any]]] = {}
    for name in config.generators:
        mine = [r for r in edits if r["generator"] == name]
        skipped = sum(r["kind"] == "not_applicable" and r["generator"] == name for r in rows)
        stats[name] = _generator_stats(mine, skipped, labelled, config.seed)
        ranked = sorted(mine, key=lambda r: (not r["flipped"], r["delta_logprob"]))
        worst[name] = [_worst_row(r, config) for r in ranked[: config.worst_k]]
    texts = {config.template.replace("{text}", r["original"]) for r in examples}
    texts |= {config.template.replace("{text}", r["edited"]) for r in edits}
    return RobustnessReport(
        model=model,
        task=config.task,
        config=_json_safe({k: v for k, v in config.__dict__.items()}),
        n_examples=len(examples),
        skipped_empty=skipped_empty,
        accuracy_before=float(np.mean([bool(r["correct"]) for r in examples])) if labelled else None,
        generators=stats,
        worst=worst,
        seconds=round(seconds, 3),
        meta={"unique_prompts": len(texts), "edits": len(edits), "warnings": _warnings(examples, config)},
    )


def _warnings(examples: Sequence[dict[str, Any]], config: RobustnessConfig) -> list[str]:
    """What keeps a classification run from supporting its verdict (see :mod:`.degenerate`)."""
    if config.task != "classify":
        return []
    answers = [r["answer"] for r in examples]
    return classifier_warnings(answers, [r["correct"] for r in examples], list(config.options or []))


def _worst_row(r: dict[str, Any], config: RobustnessConfig) -> dict[str, Any]:
    show = (lambda a: config.options[a]) if config.task == "classify" and config.options else (lambda a: a)
    return {
        "row": r["row"],
        "original": r["original"],
        "edited": r["edited"],
        "edit": r["edit"],
        "answer_before": show(r["answer_before"]),
        "answer_after": show(r["answer_after"]),
        "flipped": bool(r["flipped"]),
        "delta_logprob": float(r["delta_logprob"]),
    }
