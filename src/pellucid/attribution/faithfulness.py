"""Faithfulness: does the attribution point at the features the model really uses?

An attribution ranks the prompt's features. If the ranking is faithful, removing the
top-ranked features should hurt the target a lot, and keeping only them should preserve it.
All figures are differences of the explained function ``F`` (log-probability of the target by
default, so in nats), for one row of the explanation (default: the whole target sequence).
"Removing" a feature replaces its tokens by a baseline token, the same as the method used.

- **Comprehensiveness** (ERASER, DeYoung et al. 2020) at level ``q``:
  ``F(full) − F(full without the top q% features)``. *Higher is better*: the features the
  attribution calls important are needed.
- **Sufficiency** at level ``q``: ``F(full) − F(only the top q% features kept)``. *Lower is
  better*: those features alone almost reproduce ``F``; 0 means "as good as the full prompt",
  negative means "even better than the full prompt".
- Both are reported at each level (1/5/10/20/50 %, at least one feature each) and as their mean
  over the levels (the ERASER "AOPC" aggregate).
- **Deletion curve**: remove features one by one in attribution order and record ``F``;
  **insertion curve**: start from the all-removed prompt and restore them in that order.
  Their **AOPC** (area over the perturbation curve) is the mean of ``F(full) − F(step k)`` over
  ``k = 0..n``. Deletion AOPC: *higher is better* (``F`` collapses early). Insertion AOPC:
  *lower is better* (``F`` recovers early). Each is compared with the mean over a few seeded
  random orders; ``difference = method − random`` (so > 0 is good for deletion, < 0 for
  insertion). A method no better than random ranks features no better than chance.

Every perturbed prompt is evaluated through the shared :class:`~pellucid.attribution.engine.Scorer`
in one batched call (duplicate masks are scored once).

    from pellucid.attribution.faithfulness import faithfulness
    report = faithfulness(lm, ex)
    report["comprehensiveness"]["aopc"], report["deletion"]["difference"]
"""

from __future__ import annotations

import csv
import json
import math
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.attribution.base import Context, baseline_token, score_masks
from pellucid.attribution.engine import Scorer
from pellucid.attribution.explain import _target_spec, explain
from pellucid.attribution.features import Units
from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    import pandas as pd

LEVELS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
SENTIMENT_TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer:"
SENTIMENT_TARGETS = {"0": " negative", "1": " positive", "negative": " negative", "positive": " positive"}
TABLE_COLUMNS = (
    "method", "n", "comprehensiveness", "sufficiency", "deletion_aopc", "deletion_random_aopc",
    "deletion_difference", "insertion_aopc", "insertion_random_aopc", "insertion_difference", "seconds",
)  # fmt: skip


# -- rebuilding what explain() used ---------------------------------------------------------
def _check_explanation(ex: Explanation) -> dict[str, Any]:
    if not isinstance(ex, Explanation) or tuple(ex.axes) != ("target", "input"):
        axes = getattr(ex, "axes", None)
        raise InvalidInputError(
            f"Faithfulness needs a token attribution with axes ('target', 'input'), got axes {axes}; "
            "pass the result of pellucid.explain(...)."
        )
    info = ex.meta.get("label_info", {}).get("input", {})
    missing = [k for k in ("prompt_text", "chat", "target_token_ids") if k not in ex.meta]
    missing += [f"label_info.input.{k}" for k in ("positions", "attributed") if k not in info]
    if missing:
        raise InvalidInputError(
            f"This explanation lacks meta {missing}, needed to rebuild the prompt; re-run pellucid.explain(...)."
        )
    return info


def build_context(lm: LM, ex: Explanation, *, prompt: Any = None, batch_tokens: int = 1024) -> Context:
    """The :class:`Context` (prompt ids, features, target, scorer) that ``explain()`` used for ``ex``.

    The prompt is re-tokenized from ``meta["prompt_text"]`` (the text after the chat template),
    which gives the same ids ``explain()`` saw. ``prompt`` (the original prompt or messages) is
    only needed if that re-tokenization disagrees; it is then encoded with ``meta["chat"]``.
    """
    info = _check_explanation(ex)
    if ex.model != lm.name:
        raise InvalidInputError(
            f"The explanation was computed with model {ex.model!r} but the model given is {lm.name!r}; "
            "load the same model."
        )
    meta, chat = ex.meta, bool(ex.meta["chat"])
    positions: list[list[int]] = [list(p) for p in info["positions"]]
    n_tokens = sum(len(p) for p in positions)
    if prompt is not None:
        enc = lm.encode(prompt, chat=chat)
    else:
        enc = _encode_rendered(lm, meta["prompt_text"], chat, positions, info.get("segment"))
    if len(enc.ids) != n_tokens:
        raise InvalidInputError(
            f"The prompt re-encodes to {len(enc.ids)} tokens but the explanation covers {n_tokens}; "
            "pass the original prompt with prompt=... (and the same tokenizer)."
        )
    features = [u for u, a in enumerate(info["attributed"]) if a]
    if not features:
        raise InvalidInputError("The explanation attributes no input units; nothing to remove or keep.")
    segments = list(info.get("segment") or ["user"] * len(positions))
    units = Units(positions=positions, labels=list(ex.labels["input"]), segments=segments, features=features)
    spec = _target_spec(lm, [int(i) for i in meta["target_token_ids"]], meta.get("foil"),
                        str(ex.params.get("target_kind", "logprob")))  # fmt: skip
    first = min(min(units.positions[u]) for u in features)
    scorer = Scorer(lm, enc.ids, spec, prefix_len=first, cache=True, batch_tokens=batch_tokens)
    return Context(lm=lm, encoding=enc, units=units, spec=spec, scorer=scorer, seed=int(ex.params.get("seed", 0)))


def _encode_rendered(lm: LM, text: str, chat: bool, positions: list[list[int]], segs: Any) -> Encoding:
    tok = lm.tokenizer(text, add_special_tokens=not chat, return_offsets_mapping=True)
    ids = [int(i) for i in tok["input_ids"]]
    offsets = [(int(a), int(b)) for a, b in tok["offset_mapping"]]
    per_token = ["prompt"] * len(ids)
    for unit, pos in enumerate(positions):
        for p in pos:
            if segs is not None and p < len(per_token):
                per_token[p] = segs[unit]
    return Encoding(text=text, ids=ids, tokens=[text[a:b] for a, b in offsets], offsets=offsets,
                    segments=per_token, words=[-1] * len(ids), word_spans=[], chat=chat)  # fmt: skip


def replacement_for(lm: LM, ex: Explanation, baseline: str | int | None = None) -> int:
    """Token that "removes" a feature: ``baseline``, else the method's token baseline, else pad."""
    if baseline is None:
        baseline = ex.params.get("baseline", "pad")
        if baseline in (None, "zero"):  # an embedding baseline has no token: use pad
            baseline = "pad"
    return baseline_token(lm, baseline)


def resolve_row(ex: Explanation, row: int | str) -> int:
    """Row index from an int (negative counts from the end) or a row label such as ``"<sequence>"``."""
    labels = ex.labels["target"]
    if isinstance(row, str) and not row.lstrip("-").isdigit():
        if row not in labels:
            raise InvalidInputError(f"Unknown row {row!r}; rows are {labels} (or an index, -1 = the last).")
        return labels.index(row)
    index = int(row)
    if not -len(labels) <= index < len(labels):
        raise InvalidInputError(
            f"Row {index} does not exist: the explanation has {len(labels)} rows {labels}; "
            f"use 0..{len(labels) - 1} or -1 for the sequence row."
        )
    return index % len(labels)


# -- masks ----------------------------------------------------------------------------------
def level_count(level: float, n: int) -> int:
    """Features in the top ``level`` fraction of ``n``: rounded half up, at least 1, at most ``n``."""
    return max(1, min(n, math.floor(level * n + 0.5)))


def top_k_masks(order: np.ndarray, ks: Sequence[int], keep_top: bool) -> np.ndarray:
    """``[len(ks), n]`` masks (True = kept): only the top ``k`` kept, or all but the top ``k``."""
    n = len(order)
    masks = np.full((len(ks), n), not keep_top)
    for i, k in enumerate(ks):
        masks[i, order[:k]] = keep_top
    return masks


def curve_masks(order: np.ndarray, insertion: bool) -> np.ndarray:
    """``[n + 1, n]`` masks: step ``k`` has the first ``k`` features of ``order`` removed (deletion)
    or only those kept (insertion)."""
    return top_k_masks(order, range(len(order) + 1), keep_top=insertion)


def evaluate_masks(ctx: Context, masks: np.ndarray, replacement: int, row: int) -> np.ndarray:
    """``F[row]`` for each mask, scoring every distinct mask once in one batched call."""
    unique, inverse = np.unique(masks.astype(bool), axis=0, return_inverse=True)
    values = score_masks(ctx, unique, replacement)
    return values[np.asarray(inverse).reshape(-1), row]


def ranking(scores: np.ndarray) -> np.ndarray:
    """Feature order, most important first (highest score; ties keep prompt order)."""
    return np.argsort(-scores, kind="stable")


# -- the report -----------------------------------------------------------------------------
def faithfulness(
    lm: LM,
    ex: Explanation,
    *,
    prompt: Any = None,
    levels: Sequence[float] = LEVELS,
    row: int | str = -1,
    n_random: int = 3,
    seed: int = 0,
    baseline: str | int | None = None,
    ctx: Context | None = None,
) -> dict[str, Any]:
    """ERASER comprehensiveness/sufficiency and deletion/insertion AOPC of ``ex`` (JSON-able dict).

    Args:
        lm: the model that produced ``ex``.
        ex: an attribution from :func:`pellucid.explain` (axes ``("target", "input")``).
        prompt: the original prompt, only if re-tokenizing ``meta["prompt_text"]`` fails.
        levels: fractions of the attributed features for comprehensiveness and sufficiency.
        row: which row of ``F`` (index or label; default the whole-sequence row).
        n_random: random orders averaged for the deletion/insertion baseline.
        seed: seed of the random orders.
        baseline: token replacing removed features (default: the method's own token baseline, else pad).
        ctx: a prebuilt context (from :func:`build_context`), to skip rebuilding it.

    Returns ``{"row", "n_features", "f_full", "f_empty", "levels", "comprehensiveness": {"by_level",
    "aopc"}, "sufficiency": {...}, "deletion": {"aopc", "random_aopc", "difference", "curve",
    "random_curve"}, "insertion": {...}, ...}``; read the module docstring for the directions.
    """
    _check_explanation(ex)
    r = resolve_row(ex, row)
    levels = [float(q) for q in levels]
    bad = [q for q in levels if not 0 < q <= 1]
    if not levels or bad:
        raise InvalidInputError(
            f"levels {bad or levels} must be fractions in (0, 1], e.g. (0.01, 0.05, 0.1, 0.2, 0.5)."
        )
    if n_random < 1:
        raise InvalidInputError(f"n_random={n_random}; use at least 1 random order.")
    started = time.perf_counter()
    ctx = ctx or build_context(lm, ex, prompt=prompt)
    replacement = replacement_for(lm, ex, baseline)
    scores = ex.scores[r, ctx.units.features]
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"Row {ex.labels['target'][r]!r} has non-finite scores on attributed features.")
    n = len(scores)
    order = ranking(scores)
    rng = np.random.default_rng(seed)
    randoms = [rng.permutation(n) for _ in range(n_random)]
    ks = [level_count(q, n) for q in levels]
    blocks = [
        np.ones((1, n), dtype=bool),
        top_k_masks(order, ks, keep_top=False),
        top_k_masks(order, ks, keep_top=True),
        *[curve_masks(o, insertion) for insertion in (False, True) for o in (order, *randoms)],
    ]
    values = evaluate_masks(ctx, np.concatenate(blocks), replacement, r)
    f_full = float(values[0])
    parts = np.split(values[1:], np.cumsum([len(b) for b in blocks[1:]])[:-1])
    comp, suff = f_full - parts[0], f_full - parts[1]
    k1 = 1 + n_random
    report: dict[str, Any] = {
        "method": ex.method,
        "row": ex.labels["target"][r],
        "row_index": r,
        "n_features": n,
        "baseline_token_id": replacement,
        "f_full": f_full,
        "f_empty": float(parts[2][-1]),
        "levels": levels,
        "features_per_level": ks,
        "comprehensiveness": {"by_level": comp.tolist(), "aopc": float(comp.mean())},
        "sufficiency": {"by_level": suff.tolist(), "aopc": float(suff.mean())},
        "deletion": _curve_report(f_full, parts[2], parts[3 : k1 + 2]),
        "insertion": _curve_report(f_full, parts[k1 + 2], parts[k1 + 3 :]),
        "n_random": n_random,
        "seed": seed,
        "forward_passes": ctx.scorer.forward_passes,
        "seconds": round(time.perf_counter() - started, 4),
    }
    return report


def _curve_report(f_full: float, curve: np.ndarray, random_curves: Sequence[np.ndarray]) -> dict[str, Any]:
    aopc = float(np.mean(f_full - curve))
    random_mean = np.mean(np.stack(random_curves), axis=0)
    random_aopc = float(np.mean([np.mean(f_full - c) for c in random_curves]))
    return {
        "aopc": aopc,
        "random_aopc": random_aopc,
        "difference": aopc - random_aopc,
        "curve": curve.tolist(),
        "random_curve": random_mean.tolist(),
    }


# -- data sets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptSet:
    """Prompts read from a file, with their targets (``None``: explain the model's answer)."""

    prompts: list[str]
    targets: list[str | None]
    skipped: int = 0
    #: per prompt, the ``(start, end)`` characters of the row's own text inside a templated prompt
    #: (``None``: the prompt came as is), so that only the row's words are attributed
    spans: list[tuple[int, int] | None] = field(default_factory=list)
    #: the template the text rows were put into (``None``: every row had a ``prompt``)
    template: str | None = None
    #: per prompt, its row in the file: 1-based, the header line excluded (as robustness numbers rows)
    rows: list[int] = field(default_factory=list)


_TEXT_KEYS = ("text", "content", "sentence", "review")


def load_prompts(path: str | Path, *, template: str | None = None, limit: int | None = None) -> PromptSet:
    """Read prompts from a JSONL, CSV or TSV file (with a header line).

    A record with a ``prompt`` field is used as is (``target`` optional). A record with a
    ``text``/``content``/``sentence``/``review`` field is put into ``template`` (default: the
    sentiment template ``"Review: {text}\\nIs this review positive or negative? Answer:"``) and its
    ``label`` (0/1 or negative/positive) gives the target ``" negative"``/``" positive"``. Records
    with empty text are skipped and counted. SST-2's ``dev.tsv`` (``label<TAB>content``) works as is.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Prompt file {str(path)!r} does not exist; give a .jsonl, .csv or .tsv file.")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".tsv"):
        raise InvalidInputError(f"Prompt file {path.name!r} must end in .jsonl, .csv or .tsv.")
    template = template or SENTIMENT_TEMPLATE
    if "{text}" not in template:
        raise InvalidInputError(f"The template {template!r} must contain {{text}} where the record's text goes.")
    prompts: list[str] = []
    targets: list[str | None] = []
    spans: list[tuple[int, int] | None] = []
    rows: list[int] = []
    used: str | None = None
    skipped = 0
    for row, record in enumerate(_records(path, suffix), start=1):
        number = row + 1 if suffix != ".jsonl" else row
        if limit is not None and len(prompts) >= limit:
            break
        record = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
        if "prompt" in record:
            text, target = str(record["prompt"] or ""), record.get("target") or None
            span: tuple[int, int] | None = None
        else:
            key = next((k for k in _TEXT_KEYS if k in record), None)
            if key is None:
                raise InvalidInputError(
                    f"{path.name} line {number} has no prompt/text/content/sentence field (fields: {sorted(record)})."
                )
            label = str(record.get("label", "")).strip().lower()
            target = record.get("target") or SENTIMENT_TARGETS.get(label)
            text, span = fill_template(template, str(record[key] or "").strip())
            used = template
        if not text.strip():
            skipped += 1
            continue
        prompts.append(text)
        targets.append(None if target is None else str(target))
        spans.append(span)
        rows.append(row)
    return PromptSet(prompts=prompts, targets=targets, skipped=skipped, spans=spans, template=used, rows=rows)


def fill_template(template: str, text: str) -> tuple[str, tuple[int, int] | None]:
    """``template`` with ``{text}`` filled in, and where the text landed: ``(prompt, (start, end))``.

    Empty text gives ``("", None)`` (the row is skipped). Other fields or escaped braces are
    formatted as :meth:`str.format` does; the span is that of the first ``{text}``.
    """
    if not text:
        return "", None
    parts: list[str] = []
    span: tuple[int, int] | None = None
    length = 0
    for literal, name, spec, conversion in string.Formatter().parse(template):
        parts.append(literal)
        length += len(literal)
        if name is None:
            continue
        if name != "text":
            raise InvalidInputError(f"The template {template!r} has the field {{{name}}}; only {{text}} is filled in.")
        value = format(text if conversion is None else repr(text) if conversion == "r" else str(text), spec or "")
        if span is None:
            span = (length, length + len(value))
        parts.append(value)
        length += len(value)
    return "".join(parts), span


def _records(path: Path, suffix: str) -> Any:
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix == ".jsonl":
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InvalidInputError(f"{path.name} line {number} is not valid JSON: {exc.msg}.") from None
        else:
            tsv = suffix == ".tsv"
            yield from csv.DictReader(
                handle, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
            )


def faithfulness_table(
    lm: LM,
    prompts: list[str],
    targets: list[str | None],
    methods: list[str],
    progress: Callable[[int, int], None] | None = None,
    *,
    chat: bool | None = None,
    granularity: str = "word",
    levels: Sequence[float] = LEVELS,
    n_random: int = 3,
    seed: int = 0,
    method_params: dict[str, dict[str, Any]] | None = None,
    per_example: bool = False,
) -> pd.DataFrame:
    """Compare methods over a data set: one row per method, each figure averaged over prompts.

    Columns: ``method, n, comprehensiveness`` (mean AOPC, ↑), ``sufficiency`` (↓),
    ``deletion_aopc`` (↑), ``deletion_random_aopc``, ``deletion_difference`` (method − random, ↑),
    ``insertion_aopc`` (↓), ``insertion_random_aopc``, ``insertion_difference`` (↓), ``seconds``
    (mean time to explain and evaluate one prompt). ``per_example=True`` returns one row per
    (prompt, method) instead, with a ``prompt_index`` column. ``progress(done, total)`` is
    called after each (prompt, method) pair.
    """
    import pandas as pd

    if len(prompts) != len(targets):
        raise InvalidInputError(f"{len(prompts)} prompts but {len(targets)} targets; give one target (or None) each.")
    if not methods:
        raise InvalidInputError("No methods given; name at least one, e.g. ['occlusion', 'attention'].")
    method_params = method_params or {}
    rows: list[dict[str, Any]] = []
    total, done = len(prompts) * len(methods), 0
    for i, (prompt, target) in enumerate(zip(prompts, targets)):
        for method in methods:
            started = time.perf_counter()
            ex = explain(lm, prompt, target, method=method, chat=chat, granularity=granularity,
                         seed=seed, **method_params.get(method, {}))  # fmt: skip
            rep = faithfulness(lm, ex, levels=levels, n_random=n_random, seed=seed)
            rows.append({
                "prompt_index": i, "method": method, "n": 1,
                "comprehensiveness": rep["comprehensiveness"]["aopc"], "sufficiency": rep["sufficiency"]["aopc"],
                **{f"{c}_{k}": rep[c][k] for c in ("deletion", "insertion") for k in ("aopc", "random_aopc")},
                **{f"{c}_difference": rep[c]["difference"] for c in ("deletion", "insertion")},
                "seconds": time.perf_counter() - started,
            })  # fmt: skip
            done += 1
            if progress is not None:
                progress(done, total)
    frame = pd.DataFrame(rows, columns=["prompt_index", *TABLE_COLUMNS])
    if per_example:
        return frame
    table = (
        frame.drop(columns="prompt_index")
        .groupby("method", sort=False)
        .agg({c: ("sum" if c == "n" else "mean") for c in TABLE_COLUMNS if c != "method"})
    )
    return table.reset_index()[list(TABLE_COLUMNS)]
