"""Teacher-forced scoring of many *different* prompts in batched passes.

The attribution :class:`~pellucid.attribution.engine.Scorer` scores token-id variants of one
prompt (all the same length). Counterfactuals and robustness runs score prompts of different
lengths — a typo splits a word into three tokens, a dropped word removes two — so they batch
differently:

- **right padding**: each row is ``prompt[m:] + continuation[:-1]`` followed by padding. With
  padding at the end, every real token keeps its true position id and never attends to a pad
  (attention is causal), so no position-id bookkeeping is needed; the attention mask only hides
  the pads from nothing that reads them;
- **a shared prefix, cached**: the first ``m`` tokens that every prompt shares (the chat
  template's header and default system prompt) are run once; every batch runs on top of a copy
  of their keys and values;
- **length-sorted batches** of at most ``batch_tokens`` tokens, so little is wasted on padding;
- **only the needed logits**: the rows' answer positions lie in the last ``logits_to_keep``
  positions of the batch; only those are projected to the vocabulary.

Batched equals one-at-a-time to float rounding (tested to 1e-4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.models.kv import PrefixCache

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Row:
    """One sequence to run and what to read from it.

    ``ids`` are the full token ids (prompt then continuation[:-1]); position ``start + j``
    predicts the tokens ``gather[j]`` (one id for a continuation token, several for the
    first token of answer options).
    """

    ids: list[int]
    start: int
    gather: list[list[int]]


@dataclass(frozen=True)
class RowResult:
    """Log-probabilities of the gathered ids at each read position, and the argmax there."""

    logprobs: list[np.ndarray]
    argmax: list[int]


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix all sequences share."""
    if not seqs:
        return 0
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


@torch.no_grad()
def run_rows(
    lm: LM,
    rows: Sequence[Row],
    *,
    batch_tokens: int = 2048,
    share_prefix: bool = True,
    progress: Progress | None = None,
) -> list[RowResult]:
    """Run every row (batched, prefix cached) and read the requested log-probabilities."""
    if not rows:
        return []
    for r in rows:
        if r.start < 0 or r.start + len(r.gather) > len(r.ids) or not r.gather:
            raise InvalidInputError(f"row reads positions {r.start}..{r.start + len(r.gather)} of {len(r.ids)} tokens")
        lm.check_length(len(r.ids) + 1, "prompt plus answer")
    m = min(common_prefix([r.ids for r in rows]), min(r.start for r in rows)) if share_prefix else 0
    prefix: PrefixCache | None = None
    if m > 0:
        prefix = lm.prefix_cache(torch.tensor([rows[0].ids[:m]], device=lm.device))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
    results: list[RowResult | None] = [None] * len(rows)
    done = 0
    for batch in _batches(order, [len(r.ids) - m for r in rows], batch_tokens):
        for i, res in zip(batch, _run_batch(lm, [rows[i] for i in batch], m, prefix)):
            results[i] = res
        done += len(batch)
        if progress is not None:
            progress(done, len(rows))
    return [r for r in results if r is not None]


def _batches(order: list[int], lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Consecutive rows of ``order`` (sorted by length) with ``rows × longest <= batch_tokens``."""
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > batch_tokens:
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out


def _run_batch(lm: LM, rows: list[Row], m: int, prefix: PrefixCache | None) -> list[RowResult]:
    width = max(len(r.ids) for r in rows) - m
    pad = 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), m + width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r.ids) - m] = torch.tensor(r.ids[m:])
        mask[b, : len(r.ids)] = 1
    first_read = min(r.start for r in rows) - m
    keep = width - first_read
    cache = prefix.expanded(len(rows), m, lm.model.config) if prefix is not None else None
    logits = lm.forward(
        ids.to(lm.device), attention_mask=mask.to(lm.device), cache=cache, logits_to_keep=keep
    ).logits  # [B, keep, V]; column c is position width - keep + c (after the prefix)
    out = []
    for b, r in enumerate(rows):
        cols = [r.start - m - (width - keep) + j for j in range(len(r.gather))]
        logp = torch.log_softmax(logits[b, cols].float(), dim=-1)
        out.append(
            RowResult(
                logprobs=[logp[j, g].double().cpu().numpy() for j, g in enumerate(r.gather)],
                argmax=[int(x) for x in logp.argmax(-1)],
            )
        )
    return out


# -- the two questions callers ask -------------------------------------------------------------
def score_continuations(
    lm: LM,
    prompts: Sequence[list[int]],
    continuations: Sequence[list[int]],
    *,
    batch_tokens: int = 2048,
    share_prefix: bool = True,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Per-token log-probabilities of ``continuations[i]`` after ``prompts[i]`` (token ids)."""
    if len(prompts) != len(continuations):
        raise InvalidInputError(f"{len(prompts)} prompts but {len(continuations)} continuations; give one each.")
    rows = [Row(list(p) + list(c[:-1]), len(p) - 1, [[t] for t in c]) for p, c in zip(prompts, continuations)]
    res = run_rows(lm, rows, batch_tokens=batch_tokens, share_prefix=share_prefix, progress=progress)
    return [np.array([float(x[0]) for x in r.logprobs]) for r in res]


def score_options(
    lm: LM,
    prompts: Sequence[list[int]],
    options: Sequence[list[int]],
    *,
    batch_tokens: int = 2048,
    share_prefix: bool = True,
    progress: Progress | None = None,
) -> np.ndarray:
    """``[N, K]`` log-probability of each answer option (a whole token sequence) after each prompt.

    Options of one token each are read from one row per prompt; longer options take one row per
    (prompt, option).
    """
    if not options:
        raise InvalidInputError("No answer options given; pass at least two, e.g. ' positive', ' negative'.")
    if all(len(o) == 1 for o in options):
        first = [o[0] for o in options]
        rows = [Row(list(p), len(p) - 1, [first]) for p in prompts]
        res = run_rows(lm, rows, batch_tokens=batch_tokens, share_prefix=share_prefix, progress=progress)
        return np.stack([r.logprobs[0] for r in res]) if res else np.zeros((0, len(options)))
    pairs = [(p, o) for p in prompts for o in options]
    per_token = score_continuations(
        lm,
        [p for p, _ in pairs],
        [o for _, o in pairs],
        batch_tokens=batch_tokens,
        share_prefix=share_prefix,
        progress=progress,
    )
    return np.array([x.sum() for x in per_token]).reshape(len(prompts), len(options))


def next_token_argmax(lm: LM, prompts: Sequence[list[int]], *, batch_tokens: int = 2048) -> list[int]:
    """The greedy next token after each prompt (batched)."""
    rows = [Row(list(p), len(p) - 1, [[0]]) for p in prompts]
    return [r.argmax[0] for r in run_rows(lm, rows, batch_tokens=batch_tokens)]
