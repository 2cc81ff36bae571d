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

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.attribution.base import Context, baseline_token, score_masks
from pellucid.attribution.engine import Scorer
from pellucid.attribution.explain import _target_spec, explain
from pellucid.attribution.features import Units
from pellucid.attribution.prompt_files import SENTIMENT_TARGETS as SENTIMENT_TARGETS
from pellucid.attribution.prompt_files import SENTIMENT_TEMPLATE as SENTIMENT_TEMPLATE
from pellucid.attribution.prompt_files import PromptSet as PromptSet
from pellucid.attribution.prompt_files import fill_template as fill_template
from pellucid.attribution.prompt_files import load_prompts as load_prompts
from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    import pandas as pd

LEVELS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
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
def _checked_levels(levels: Sequence[float], n_random: int) -> list[float]:
    """The levels as floats, refused unless each is a fraction in (0, 1] and ``n_random`` is at least 1."""
    out = [float(q) for q in levels]
    bad = [q for q in out if not 0 < q <= 1]
    if not out or bad:
        raise InvalidInputError(f"levels {bad or out} must be fractions in (0, 1], e.g. (0.01, 0.05, 0.1, 0.2, 0.5).")
    if n_random < 1:
        raise InvalidInputError(f"n_random={n_random}; use at least 1 random order.")
    return out


def _perturbed_values(
    ctx: Context, order: np.ndarray, ks: list[int], n_random: int, seed: int, replacement: int, row: int
) -> tuple[float, list[np.ndarray]]:
    """``F(full)`` and ``F`` under every perturbation, scored in one batched call.

    The parts, in order: without the top-k features (one per level), with only them, then the
    deletion and insertion curves, each of the attribution order followed by ``n_random`` seeded
    random orders.
    """
    n = len(order)
    rng = np.random.default_rng(seed)
    randoms = [rng.permutation(n) for _ in range(n_random)]
    blocks = [
        np.ones((1, n), dtype=bool),
        top_k_masks(order, ks, keep_top=False),
        top_k_masks(order, ks, keep_top=True),
        *[curve_masks(o, insertion) for insertion in (False, True) for o in (order, *randoms)],
    ]
    values = evaluate_masks(ctx, np.concatenate(blocks), replacement, row)
    return float(values[0]), np.split(values[1:], np.cumsum([len(b) for b in blocks[1:]])[:-1])


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
    levels = _checked_levels(levels, n_random)
    started = time.perf_counter()
    ctx = ctx or build_context(lm, ex, prompt=prompt)
    replacement = replacement_for(lm, ex, baseline)
    scores = ex.scores[r, ctx.units.features]
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"Row {ex.labels['target'][r]!r} has non-finite scores on attributed features.")
    return {
        "method": ex.method,
        "row": ex.labels["target"][r],
        "row_index": r,
        **_measure(ctx, scores, levels, n_random, seed, replacement, r),
        "n_random": n_random,
        "seed": seed,
        "forward_passes": ctx.scorer.forward_passes,
        "seconds": round(time.perf_counter() - started, 4),
    }


def _measure(
    ctx: Context, scores: np.ndarray, levels: list[float], n_random: int, seed: int, replacement: int, row: int
) -> dict[str, Any]:
    """The figures of the report for one row's feature ``scores``: ``F`` at the ends, then
    comprehensiveness and sufficiency per level, then the deletion and insertion curves."""
    n = len(scores)
    ks = [level_count(q, n) for q in levels]
    f_full, parts = _perturbed_values(ctx, ranking(scores), ks, n_random, seed, replacement, row)
    comp, suff = f_full - parts[0], f_full - parts[1]
    k1 = 1 + n_random
    return {
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
    }


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


def _check_table_inputs(prompts: list[str], targets: list[str | None], methods: list[str]) -> None:
    """Refuse prompts and targets of different lengths, and an empty list of methods."""
    if len(prompts) != len(targets):
        raise InvalidInputError(f"{len(prompts)} prompts but {len(targets)} targets; give one target (or None) each.")
    if not methods:
        raise InvalidInputError("No methods given; name at least one, e.g. ['occlusion', 'attention'].")


def _table_row(index: int, method: str, rep: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One (prompt, method) row of the comparison table: the AOPCs of one :func:`faithfulness` report."""
    return {
        "prompt_index": index, "method": method, "n": 1,
        "comprehensiveness": rep["comprehensiveness"]["aopc"], "sufficiency": rep["sufficiency"]["aopc"],
        **{f"{c}_{k}": rep[c][k] for c in ("deletion", "insertion") for k in ("aopc", "random_aopc")},
        **{f"{c}_difference": rep[c]["difference"] for c in ("deletion", "insertion")},
        "seconds": seconds,
    }  # fmt: skip


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

    _check_table_inputs(prompts, targets, methods)
    method_params = method_params or {}
    rows: list[dict[str, Any]] = []
    total = len(prompts) * len(methods)
    for i, (prompt, target) in enumerate(zip(prompts, targets)):
        for method in methods:
            started = time.perf_counter()
            ex = explain(lm, prompt, target, method=method, chat=chat, granularity=granularity,
                         seed=seed, **method_params.get(method, {}))  # fmt: skip
            rep = faithfulness(lm, ex, levels=levels, n_random=n_random, seed=seed)
            rows.append(_table_row(i, method, rep, time.perf_counter() - started))
            if progress is not None:
                progress(len(rows), total)
    frame = pd.DataFrame(rows, columns=["prompt_index", *TABLE_COLUMNS])
    if per_example:
        return frame
    table = (
        frame.drop(columns="prompt_index")
        .groupby("method", sort=False)
        .agg({c: ("sum" if c == "n" else "mean") for c in TABLE_COLUMNS if c != "method"})
    )
    return table.reset_index()[list(TABLE_COLUMNS)]
