"""Causal tracing: where does the model recall a fact about the subject?

Meng et al. 2022 ("Locating and Editing Factual Associations in GPT", ROME, §2.1) corrupt the
*subject* of a factual prompt ("The **Eiffel Tower** is located in the city of" → " Paris")
by adding Gaussian noise to its token embeddings — three times the standard deviation of the
embeddings — so the model can no longer recall the fact. Then, one at a time, they restore
the clean hidden state at a single (layer, position) and measure how much of the target's
probability comes back. Averaging over several noise samples (seeded here) gives the
*indirect effect* of each state.

In GPT-2 XL and GPT-J, ROME found two sites: the **last subject token in the early-to-middle
layers** (where MLPs recall the fact) and the **last position in the late layers** (where
attention has copied it to be predicted). ``site="mlp.out"`` or ``"attn.out"`` with
``window=10`` restores a window of layers' MLP or attention outputs, as in their Figure 1.

What SmolLM2-135M-Instruct shows on ``"The Eiffel Tower is located in the city of"`` /
``" Paris"`` / subject ``"Eiffel Tower"`` (10 samples, seed 0; p = 0.70 clean, 0.021 noised):
the same two sites, with a twist. Early: the hidden state of the subject's *middle* token
``'iffel'`` restores 60–70 % in layers 0–9 (fading to 27 % by layer 22), made there by MLP 0
(0.56 on its own); the last subject token ``' Tower'`` restores nothing. Late: the last
position restores everything from layer 23 on (1.11 at layer 23), written by attention in
layers 21–23 (layer 23 alone: 0.32). Full tables in ``docs/inspect.md``.

Scores are normalised like activation patching: 1 = clean probability, 0 = corrupted.
Positions before the first subject token are identical in both runs, so their effect is
exactly 0 and is not computed. The sweep reuses the noisy runs and batches the restored
runs (see :mod:`pellucid.inspect._runner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect._runner import BaseRun, base_run, plan_chunks, run_from
from pellucid.types import Encoding, Explanation

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

TRACE_SITES = ("resid_post", "mlp.out", "attn.out")


def subject_positions(enc: Encoding, subject: str) -> list[int]:
    """Token positions covering the first occurrence of ``subject`` in the prompt text."""
    if not subject or not subject.strip():
        raise InvalidInputError("The subject is empty; give the words to corrupt, e.g. 'Eiffel Tower'.")
    start = enc.text.find(subject)
    if start < 0:
        lowered = enc.text.lower().find(subject.lower())
        hint = f" A different case matches: {enc.text[lowered : lowered + len(subject)]!r}." if lowered >= 0 else ""
        raise InvalidInputError(
            f"The subject {subject!r} does not occur in the prompt {enc.text!r}.{hint} "
            "Give the subject exactly as written in the prompt."
        )
    end = start + len(subject)
    found = [i for i, (a, b) in enumerate(enc.offsets) if a < end and b > start]
    if not found:
        raise InvalidInputError(f"No token of the prompt covers the subject {subject!r}.")
    return found


def _window(layer: int, window: int, n_layers: int) -> list[int]:
    low = max(0, layer - window // 2)
    return list(range(low, min(n_layers, low + window)))


def _restore_sweep(
    lm: LM,
    base: BaseRun,
    clean: dict[int, torch.Tensor],
    site: str,
    layers: list[int],
    positions: list[int],
    window: int,
    measure: c.TokenMetric,
    overhead_rows: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Mean metric over noise samples after restoring each (layer, position); ``([layers, positions], calls)``."""
    samples, length = base.ids.shape
    out = torch.empty(len(layers), len(positions))
    column = {p: i for i, p in enumerate(positions)}
    calls = 0
    for li, layer in enumerate(layers):
        restored = _window(layer, window, lm.n_layers)
        for chunk in plan_chunks(positions, length, max(1, overhead_rows // samples), max(64, 4096 // samples)):
            start = chunk[0]
            copies = torch.tensor(chunk).repeat_interleave(samples)  # [c * S]: sample fastest
            rows = torch.arange(samples).repeat(len(chunk))
            batch, offsets = torch.arange(len(copies)), copies - start

            def edit(
                x: torch.Tensor, name: str, b: torch.Tensor = batch, o: torch.Tensor = offsets, p: torch.Tensor = copies
            ) -> torch.Tensor:
                x = x.clone()
                x[b, o] = clean[int(name.split(".")[1])][p]
                return x

            hooks = [(f"blocks.{r}.{site}", edit) for r in restored]
            logits = run_from(lm, base, layer=restored[0], start=start, rows=rows, hooks=hooks)
            calls += 1
            values = measure(logits).cpu().view(len(chunk), samples).mean(1)
            out[li, [column[p] for p in chunk]] = values
        if progress is not None:
            progress(li + 1, len(layers))
    return out, calls


def trace(
    lm: LM,
    prompt: Prompt,
    *,
    target: str,
    subject: str,
    samples: int = 10,
    noise: float = 3.0,
    seed: int = 0,
    site: str = "resid_post",
    window: int = 1,
    layers: int | Sequence[int] | None = None,
    normalize: bool = True,
    chat: bool | None = False,
    overhead_rows: int = 48,
    progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """Causal tracing of ``target`` with the ``subject`` tokens corrupted by seeded Gaussian noise.

    Args:
        target: the answer token (e.g. ``" Paris"``; its first token is scored by probability).
        subject: text inside the prompt whose tokens are corrupted (e.g. ``"Eiffel Tower"``).
        samples: noise samples averaged; noise: its standard deviation in units of the
            embedding matrix's standard deviation (ROME: 3).
        site: ``resid_post`` (hidden state), ``mlp.out`` or ``attn.out``.
        window: number of consecutive layers restored together (ROME uses 10 for MLP/attention).
        progress: called as ``progress(done, total)`` after each layer is restored everywhere.

    Returns an :class:`Explanation` over ``("layer", "position")``; ``meta["best"]`` names the
    most restoring state.
    """
    watch = c.Stopwatch()
    site = _check_trace_args(site, samples, window, noise)
    enc = c.encode(lm, prompt, chat)
    subject_pos = subject_positions(enc, subject)
    measure = c.make_metric(lm, target, None, "prob")
    params: dict[str, Any] = {
        "target": target, "subject": subject, "samples": samples, "noise": noise, "seed": seed, "site": site,
        "window": window, "layers": c.resolve_layers(lm, layers), "normalize": normalize, "chat": chat,
    }  # fmt: skip
    run = _trace_runs(lm, enc, subject_pos, measure, params, overhead_rows, progress)
    return _trace_explanation(lm, enc, run, params, subject_pos, watch)


def _trace_explanation(
    lm: LM, enc: Encoding, run: _Traced, params: dict[str, Any], subject_pos: list[int], watch: c.Stopwatch
) -> Explanation:
    """The restored probabilities as a heat map over (layer, position), normalised if asked."""
    scores = c.normalise(run.probs, run.p_clean, run.p_corrupt) if params["normalize"] else run.probs
    return Explanation(
        scores=scores.numpy(),
        axes=("layer", "position"),
        labels={"layer": c.layer_labels(params["layers"]), "position": c.position_labels(enc)},
        method="causal_tracing",
        model=lm.name,
        kind="patching",
        signed=True,
        params=params,
        meta=_trace_meta(lm, enc, params["target"], run, scores, params["layers"], subject_pos, watch),
    )


def _check_trace_args(site: str, samples: int, window: int, noise: float) -> str:
    """The checked site; ``samples`` and ``window`` must be at least 1 and ``noise`` positive."""
    site = c.check_site(site, TRACE_SITES)
    for name, value in (("samples", samples), ("window", window)):
        if value < 1:
            raise InvalidInputError(f"{name}={value}; it must be at least 1.")
    if noise <= 0:
        raise InvalidInputError(f"noise={noise}; give a positive multiple of the embedding std (ROME uses 3).")
    return site


@dataclass(frozen=True)
class _Traced:
    """The target's probability per (layer, position) after restoring, the clean and corrupted
    probabilities, the noise's standard deviation, the batched calls made and the metric read."""

    probs: torch.Tensor
    p_clean: float
    p_corrupt: float
    sigma: float
    calls: int
    measure: c.TokenMetric


def _trace_runs(
    lm: LM,
    enc: Encoding,
    subject_pos: list[int],
    measure: c.TokenMetric,
    params: dict[str, Any],
    overhead_rows: int,
    progress: Callable[[int, int], None] | None,
) -> _Traced:
    """The clean run, the noisy runs, then every restoration from the subject's first token on."""
    site, window, layer_list = params["site"], params["window"], params["layers"]
    ids = c.as_ids(lm, enc)
    starts = sorted({_window(layer, window, lm.n_layers)[0] for layer in layer_list})
    base, sigma = _noisy_base(lm, ids, subject_pos, params["samples"], params["noise"], params["seed"], starts)
    needed = sorted({r for layer in layer_list for r in _window(layer, window, lm.n_layers)})
    clean_logits, cache = lm.run_with_cache(ids, [f"blocks.{r}.{site}" for r in needed])
    clean = {r: cache[f"blocks.{r}.{site}"][0] for r in needed}
    p_clean, p_corrupt = float(measure(clean_logits[:, -1])[0]), float(measure(base.logits).mean())
    positions = list(range(subject_pos[0], len(enc)))
    restored, calls = _restore_sweep(
        lm, base, clean, site, layer_list, positions, window, measure, overhead_rows, progress
    )
    probs = torch.full((len(layer_list), len(enc)), p_corrupt)
    probs[:, positions] = restored
    return _Traced(probs, p_clean, p_corrupt, sigma, calls, measure)


def _trace_meta(
    lm: LM,
    enc: Encoding,
    target: str,
    run: _Traced,
    scores: torch.Tensor,
    layer_list: list[int],
    subject_pos: list[int],
    watch: c.Stopwatch,
) -> dict[str, Any]:
    """The probabilities behind the scores, the most restoring states, the positions' segments and the work done."""
    segment = ["subject" if p in subject_pos else enc.segments[p] for p in range(len(enc))]
    return {
        "clean_prob": run.p_clean, "corrupted_prob": run.p_corrupt, "noise_std": run.sigma,
        "subject_positions": subject_pos, "target": c.token_meta(lm, target, run.measure.target),
        **_best_cells(enc, scores, layer_list, subject_pos),
        "probs": run.probs.tolist(), "label_info": {"position": {**c.position_info(enc), "segment": segment}},
        "forward_passes": run.calls + 2, "seconds": watch.seconds(),
    }  # fmt: skip


def _noisy_base(
    lm: LM, ids: torch.Tensor, subject_pos: list[int], samples: int, noise: float, seed: int, starts: list[int]
) -> tuple[BaseRun, float]:
    """The corrupted runs (one per noise sample, batched) and the noise's standard deviation."""
    sigma = noise * float(lm.embedding_matrix().detach().float().std())
    generator = torch.Generator().manual_seed(seed)
    delta = torch.randn(samples, len(subject_pos), lm.d_model, generator=generator) * sigma
    delta = delta.to(device=lm.device, dtype=lm.embedding_matrix().dtype)

    def corrupt(x: torch.Tensor, _site: str) -> torch.Tensor:
        x = x.clone()
        x[:, subject_pos] += delta
        return x

    return base_run(lm, ids.expand(samples, -1), starts, hooks=[("embed", corrupt)]), sigma


def _best_cells(enc: Encoding, scores: torch.Tensor, layers: list[int], subject_pos: list[int]) -> dict[str, Any]:
    """The most restoring state overall, at the last subject token and at the last position."""
    li, pos = divmod(int(scores.argmax()), scores.shape[1])
    last_subject = subject_pos[-1]
    return {
        "best": {"layer": layers[li], "position": pos, "token": enc.tokens[pos], "score": float(scores[li, pos])},
        "best_at_last_subject_token": {
            "layer": layers[int(scores[:, last_subject].argmax())],
            "score": float(scores[:, last_subject].max()),
        },
        "best_at_last_position": {"layer": layers[int(scores[:, -1].argmax())], "score": float(scores[:, -1].max())},
    }
