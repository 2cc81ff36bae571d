"""Activation patching: which activations carry the information that changes the answer?

Run the model on a *clean* prompt ("The Eiffel Tower is in the city of" → " Paris") and on a
*corrupted* one that differs in a key detail ("The Colosseum is in the city of" → " Rome").
Then rerun the corrupted prompt, restoring one activation — the residual stream at one
(layer, position), one attention or MLP output, one head — to its clean value, and measure
how much of the clean answer comes back. The metric is normalised::

    score = (metric(patched) - metric(corrupted)) / (metric(clean) - metric(corrupted))

so 1 means "this activation alone restores the clean behaviour" and 0 "no effect". The
metric is the logit difference target − foil (with a foil) or the target's probability.
``direction="noise"`` does the reverse: patch corrupted activations into the clean run
(1 = no damage, 0 = as bad as the corrupted run).

Meng et al. 2022 (ROME, "Locating and Editing Factual Associations in GPT") introduced the
method as causal tracing (see :mod:`pellucid.inspect.tracing`); Wang et al. 2022 (IOI) and
Heimersheim & Nanda 2024 ("How to use and interpret activation patching") describe patching
between prompt pairs.

Speed: patching layer ``l`` at position ``p`` cannot change blocks below ``l`` or positions
before ``p``. ``method="fast"`` (the default) therefore runs only blocks ``l..n-1`` on
positions ``p..L-1``, reusing the corrupted run's residual stream and key/value cache, in
batches, projecting only the last position to the vocabulary (see
:mod:`pellucid.inspect._runner`). ``method="naive"`` runs one full forward per patch, like
TransformerLens's ``get_act_patch_resid_pre``; both give the same numbers (to ~1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect._runner import base_run
from pellucid.inspect.patch_sweeps import Progress, changed_cells, head_sweep, naive_sweep, position_sweep
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

PATCH_SITES = ("resid_pre", "resid_post", "attn.out", "mlp.out", "heads")


@dataclass(frozen=True)
class PatchSetup:
    """A clean/corrupted pair tokenized to the same length, and the metric to read."""

    clean: Encoding
    corrupted: Encoding
    clean_ids: torch.Tensor
    corrupted_ids: torch.Tensor
    metric: c.TokenMetric
    aligned: bool


def align_ids(clean: list[int], corrupted: list[int], filler: int) -> tuple[list[int], list[int]]:
    """Pad the shorter id list with ``filler`` where the two differ, so positions line up.

    The common prefix and the common suffix stay aligned; the differing middle of the
    shorter prompt is padded at its end.
    """
    a = 0
    while a < min(len(clean), len(corrupted)) and clean[a] == corrupted[a]:
        a += 1
    b = 0
    while b < min(len(clean), len(corrupted)) - a and clean[-1 - b] == corrupted[-1 - b]:
        b += 1
    gap = len(clean) - len(corrupted)
    if gap > 0:
        corrupted = corrupted[: len(corrupted) - b] + [filler] * gap + corrupted[len(corrupted) - b :]
    elif gap < 0:
        clean = clean[: len(clean) - b] + [filler] * -gap + clean[len(clean) - b :]
    return clean, corrupted


def _aligned_encoding(lm: LM, enc: Encoding, ids: list[int]) -> Encoding:
    if ids == enc.ids:
        return enc
    tokens = lm.decode_tokens(ids)
    return Encoding(
        text=enc.text,
        ids=ids,
        tokens=tokens,
        offsets=[(0, 0)] * len(ids),
        segments=["prompt"] * len(ids),
        words=[-1] * len(ids),
        word_spans=[],
        chat=enc.chat,
    )


def prepare(
    lm: LM,
    clean: Prompt,
    corrupted: Prompt,
    *,
    target: str,
    foil: str | None = None,
    metric: str | None = None,
    chat: bool | None = False,
    align: bool = False,
    filler: str = " ",
) -> PatchSetup:
    """Tokenize a clean/corrupted pair, check (or fix with ``align``) their lengths, build the metric."""
    clean_enc, corr_enc = c.encode(lm, clean, chat), c.encode(lm, corrupted, chat)
    measure = c.make_metric(lm, target, foil, metric)
    aligned = len(clean_enc) != len(corr_enc)
    if aligned:
        if not align:
            raise InvalidInputError(
                f"The clean prompt has {len(clean_enc)} tokens and the corrupted prompt {len(corr_enc)}: "
                "patching swaps activations position by position, so both must have the same length. "
                f"Clean tokens: {clean_enc.tokens}; corrupted tokens: {corr_enc.tokens}. Reword one prompt "
                "(e.g. a subject with as many tokens), or pass align=True (CLI: --align) to pad the shorter "
                f"one with filler tokens ({filler!r}) where the prompts differ."
            )
        fill = lm.encode_target(filler)[0]
        ids_a, ids_b = align_ids(clean_enc.ids, corr_enc.ids, fill)
        clean_enc, corr_enc = _aligned_encoding(lm, clean_enc, ids_a), _aligned_encoding(lm, corr_enc, ids_b)
    return PatchSetup(
        clean=clean_enc,
        corrupted=corr_enc,
        clean_ids=c.as_ids(lm, clean_enc),
        corrupted_ids=c.as_ids(lm, corr_enc),
        metric=measure,
        aligned=aligned,
    )


def source_activations(
    lm: LM, ids: torch.Tensor, site: str, layers: Sequence[int]
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """The source run's last-position logits ``[1, V]`` and its activation at ``site`` per layer (no batch dim)."""
    suffix = "attn.z" if site == "heads" else site
    logits, cache = lm.run_with_cache(ids, [f"blocks.{layer}.{suffix}" for layer in layers])
    return logits[:, -1], {layer: cache[f"blocks.{layer}.{suffix}"][0] for layer in layers}


@dataclass(frozen=True)
class _Sweep:
    """Raw metric per cell, with the reference metrics and the work done."""

    raw: torch.Tensor
    clean: float
    corrupted: float
    calls: int
    skipped: int


def _sweep(
    lm: LM, setup: PatchSetup, site: str, layers: list[int], positions: list[int], heads: list[int], *,
    direction: str, method: str, skip_identical: bool, overhead_rows: int, progress: Progress | None = None,
) -> _Sweep:  # fmt: skip
    """Run the source and base once, then every patch (fast or naive)."""
    src_ids, base_ids = (setup.clean_ids, setup.corrupted_ids)
    if direction == "noise":
        src_ids, base_ids = base_ids, src_ids
    src_logits, source = source_activations(lm, src_ids, site, layers)
    base = base_run(lm, base_ids, layers)
    clean_m, corr_m = float(setup.metric(src_logits)[0]), float(setup.metric(base.logits)[0])
    if direction == "noise":
        clean_m, corr_m = corr_m, clean_m
    cells = heads if site == "heads" else positions
    todo = {layer: list(cells) for layer in layers}
    if method == "fast" and skip_identical:
        todo = changed_cells(source, source_activations(lm, base_ids, site, layers)[1], site, cells, positions)
    if method == "naive":
        raw = naive_sweep(lm, base_ids, source, site, layers, cells, setup.metric, positions, progress)
        calls = len(layers) * len(cells)
    elif site == "heads":
        raw, calls = head_sweep(lm, base, source, layers, heads, todo, positions, setup.metric, progress)
    else:
        raw, calls = position_sweep(
            lm, base, source, site, layers, todo, positions, setup.metric, overhead_rows, progress
        )
    extra = 2 + (method == "fast" and skip_identical)
    skipped = sum(len(cells) - len(v) for v in todo.values())
    return _Sweep(raw, clean_m, corr_m, calls + extra, skipped)


def patch(
    lm: LM,
    clean: Prompt,
    corrupted: Prompt,
    *,
    target: str,
    foil: str | None = None,
    site: str = "resid_pre",
    metric: str | None = None,
    layers: int | Sequence[int] | None = None,
    positions: int | Sequence[int] | None = None,
    heads: int | Sequence[int] | None = None,
    direction: str = "denoise",
    normalize: bool = True,
    chat: bool | None = False,
    align: bool = False,
    method: str = "fast",
    skip_identical: bool = True,
    overhead_rows: int = 48,
    progress: Progress | None = None,
) -> Explanation:
    """Patch clean activations into the corrupted run, one (layer, position) or (layer, head) at a time.

    Args:
        target, foil: next tokens to compare (e.g. ``" Paris"``, ``" Rome"``; first token used).
        site: ``resid_pre``, ``resid_post``, ``attn.out``, ``mlp.out`` (axes layer × position),
            or ``heads`` (each head's output ``attn.z`` at ``positions``; axes layer × head).
        metric: ``logit_diff`` (default with a foil), ``prob`` (default without) or ``logprob``.
        direction: ``denoise`` patches clean into corrupted; ``noise`` corrupted into clean.
        normalize: scale so the clean run is 1 and the corrupted run 0; else raw metric values.
        chat: apply the chat template (default: raw text, as usual for next-token analysis).
        align: pad the shorter prompt with filler tokens where the two differ.
        method: ``fast`` (reuse the base run, batch) or ``naive`` (one full forward per patch).
        skip_identical: (fast) do not rerun cells whose source activation equals the base
            run's bit for bit — e.g. positions before the first token where the prompts
            differ: patching them changes nothing, so they get the base run's metric.
        progress: called as ``progress(done, total)`` after each layer of the sweep.
    """
    watch = c.Stopwatch()
    site = _check_patch_choices(site, direction, method)
    setup = prepare(lm, clean, corrupted, target=target, foil=foil, metric=metric, chat=chat, align=align)
    layer_list, pos_list, head_list = resolve_cells(lm, setup, normalize, layers, positions, heads)
    run = _sweep(lm, setup, site, layer_list, pos_list, head_list, direction=direction, method=method,
                 skip_identical=skip_identical, overhead_rows=overhead_rows, progress=progress)  # fmt: skip
    params = {
        "site": site, "metric": setup.metric.kind, "direction": direction, "normalize": normalize,
        "layers": layer_list, "positions": pos_list, "heads": head_list if site == "heads" else None, "chat": chat,
        "align": align, "method": method, "skip_identical": skip_identical,
    }  # fmt: skip
    return _patch_explanation(lm, setup, run, params, target, foil, watch)


def _check_patch_choices(site: str, direction: str, method: str) -> str:
    """The site's canonical name (``attn.z`` is ``heads``), after checking site, direction and method."""
    site = "heads" if site == "attn.z" else c.check_site(site, PATCH_SITES)
    c.check_choice("direction", direction, ("denoise", "noise"))
    c.check_choice("method", method, ("fast", "naive"))
    return site


def resolve_cells(
    lm: LM,
    setup: PatchSetup,
    normalize: bool,
    layers: int | Sequence[int] | None,
    positions: int | Sequence[int] | None,
    heads: int | Sequence[int] | None,
) -> tuple[list[int], list[int], list[int]]:
    """The layers, positions and heads to patch (``None``: all); a pair that normalises must differ."""
    if normalize:
        c.require_different(setup.clean, setup.corrupted)
    return c.resolve_layers(lm, layers), c.resolve_positions(len(setup.clean), positions), c.resolve_heads(lm, heads)


def _patch_explanation(
    lm: LM,
    setup: PatchSetup,
    run: _Sweep,
    params: dict[str, Any],
    target: str,
    foil: str | None,
    watch: c.Stopwatch,
) -> Explanation:
    """The sweep as a heat map over (layer, position) or (layer, head), normalised if asked, with its provenance."""
    site, layer_list, pos_list = params["site"], params["layers"], params["positions"]
    scores = c.normalise(run.raw, run.clean, run.corrupted) if params["normalize"] else run.raw
    axis = "head" if site == "heads" else "position"
    cell_labels = [f"H{h}" for h in params["heads"]] if site == "heads" else c.position_labels(setup.clean, pos_list)
    meta: dict[str, Any] = {
        "clean_metric": run.clean, "corrupted_metric": run.corrupted, "metric": setup.metric.kind,
        "target": c.token_meta(lm, target, setup.metric.target), "foil": c.token_meta(lm, foil, setup.metric.foil),
        "corrupted_tokens": setup.corrupted.tokens, "aligned": setup.aligned, "forward_passes": run.calls,
        "skipped_cells": run.skipped, "seconds": watch.seconds(),
    }  # fmt: skip
    if site != "heads":
        corrupted_labels = [setup.corrupted.tokens[p] for p in pos_list]
        meta["label_info"] = {"position": {**c.position_info(setup.clean, pos_list), "corrupted": corrupted_labels}}
    return Explanation(
        scores=scores.numpy(),
        axes=("layer", axis),
        labels={"layer": c.layer_labels(layer_list), axis: cell_labels},
        method="activation_patching",
        model=lm.name,
        kind="patching",
        signed=True,
        meta=meta,
        params=params,
    )
