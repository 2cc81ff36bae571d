"""Transcoders for many layers in one pass over the corpus: one forward feeds every layer's trainer.

An attribution graph needs a transcoder for every MLP. Training them one layer at a time would
read the corpus and run the model once per layer; here one
:class:`~pellucid.features.activations.ActivationStream` reads ``blocks.L.mlp.in`` and
``blocks.L.mlp.out`` of every chosen layer in the same forward, and each batch (the same shuffled
tokens for every layer) takes one optimisation step of each layer's run — the very step
:func:`~pellucid.features.train.fit` takes (:mod:`pellucid.features.train`'s ``_Run`` and
``_step``), so a layer trained here equals one trained alone on the same batches.

The output folder holds ``layer_<L>/`` per layer (SAELens layout, ``pellucid_train.json``, and
``pellucid_eval.json`` once evaluated) and, in the folder itself, one ``checkpoint.pt`` (every run
and the stream's position: ``resume=True`` continues all layers together) and
``pellucid_transcoders.json``, the summary: each layer's figures and, evaluated on held-out
text, the replacement model's agreement with the original
(:func:`~pellucid.features.replacement_eval.replacement_agreement`).

The stream's buffer holds ``buffer_tokens`` rows of every layer's input and output; by default
it is sized to about 1.5 GB (at least two batches), so thirty layers fit in memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.features.activations import ActivationStream
from pellucid.features.corpus import Corpus, check_corpus
from pellucid.features.dictionary import DictionaryConfig
from pellucid.features.pipeline import dictionary_config, transcoder_sites
from pellucid.features.train import (
    CHECKPOINT_FILE,
    Progress,
    TrainConfig,
    TrainResult,
    _check_same,
    _check_widths,
    _Run,
    _step,
    write_summary,
)

if TYPE_CHECKING:
    from pellucid.models.lm import LM

SUMMARY_FILE = "pellucid_transcoders.json"
_BUFFER_BYTES = 1_500_000_000


def layer_folder(out: str | Path, layer: int) -> Path:
    """Where the transcoder of ``layer`` lives inside a multi-layer training folder."""
    return Path(out) / f"layer_{layer}"


def check_layers(lm: LM, layers: Sequence[int] | None) -> list[int]:
    """The layers to train (``None``: all), each checked against the model."""
    chosen = list(range(lm.n_layers)) if layers is None else sorted(set(int(x) for x in layers))
    bad = [x for x in chosen if not 0 <= x < lm.n_layers]
    if not chosen or bad:
        raise InvalidInputError(
            f"layers={list(layers or [])}: {lm.name} has layers 0..{lm.n_layers - 1}; give 'all' or some of them."
        )
    return chosen


class _Layers:
    """Every layer's run, stepped together on one stream."""

    def __init__(self, configs: dict[int, DictionaryConfig], config: TrainConfig, first: list[torch.Tensor]) -> None:
        self.configs, self.config = configs, config
        self.runs = {layer: _Run(dc, config, self.pair(first, i)) for i, (layer, dc) in enumerate(configs.items())}

    @staticmethod
    def pair(batch: list[torch.Tensor], i: int) -> list[torch.Tensor]:
        return [batch[2 * i], batch[2 * i + 1]]

    def step(self, batch: list[torch.Tensor]) -> dict[int, dict[str, float]]:
        figures = {}
        for i, (layer, run) in enumerate(self.runs.items()):
            dc = self.configs[layer]
            figures[layer] = _step(run, dc, self.config, self.pair(batch, i))
            if run.step % self.config.log_every == 0 or run.step == self.config.steps:
                dead = float((run.since_fired > self.config.dead_tokens).float().mean())
                run.history.append({"step": run.step, "tokens": run.tokens, **figures[layer], "dead": dead})
        return figures

    def state_dict(self, stream: ActivationStream) -> dict[str, Any]:
        return {"runs": {str(k): r.state_dict() for k, r in self.runs.items()}, "source": stream.state_dict(),
                "dictionaries": {str(k): dc.to_dict() for k, dc in self.configs.items()},
                "train": asdict(self.config)}  # fmt: skip

    def load(self, saved: dict[str, Any], stream: ActivationStream) -> None:
        if sorted(saved["runs"]) != sorted(str(k) for k in self.runs):
            raise InvalidInputError(
                f"The checkpoint trains layers {sorted(int(k) for k in saved['runs'])}, not {sorted(self.runs)}; "
                "resume with the same --layers or start afresh."
            )
        for layer, run in self.runs.items():
            _check_same({"dictionary": saved["dictionaries"][str(layer)], "train": saved["train"]},
                        self.configs[layer], self.config)  # fmt: skip
            run.load_state_dict(saved["runs"][str(layer)])
        stream.load_state_dict(saved["source"])


def _stream(lm: LM, corpus: Corpus, layers: list[int], config: TrainConfig, **options: Any) -> ActivationStream:
    sites = [site for layer in layers for site in transcoder_sites(layer)]
    width = 2 * lm.d_model * len(layers)
    buffer = options.pop("buffer_tokens") or max(2 * config.batch_size, min(65536, _BUFFER_BYTES // (4 * width)))
    return ActivationStream(lm, corpus, sites, batch_size=config.batch_size, buffer_tokens=buffer,
                            seed=config.seed, **options)  # fmt: skip


def _save(path: Path, layers: _Layers, stream: ActivationStream) -> None:
    partial = path.with_suffix(".tmp")
    torch.save(layers.state_dict(stream), partial)
    partial.replace(path)


def train_transcoders(
    lm: LM,
    corpus: Corpus,
    layers: Sequence[int] | None,
    *,
    latents: int,
    k: int,
    out: str | Path,
    architecture: str = "topk",
    skip: bool = False,
    config: TrainConfig | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    context: int = 128,
    buffer_tokens: int | None = None,
    text_field: str | None = None,
) -> dict[int, TrainResult]:
    """Train one transcoder per layer of ``layers`` (``None``: all) in one pass; saved under ``out``."""
    config = config or TrainConfig()
    chosen = check_layers(lm, layers)
    check_corpus(corpus, text_field)
    configs = {}
    for layer in chosen:
        site, site_out = transcoder_sites(layer)
        configs[layer] = dictionary_config(lm, site, latents, k, architecture, site_out, skip)
    checkpoint = Path(out) / CHECKPOINT_FILE
    if resume and not checkpoint.is_file():
        raise InvalidInputError(f"resume=True but there is no {CHECKPOINT_FILE} in {str(out)!r} to resume from.")
    stream = _stream(lm, corpus, chosen, config, context=context, buffer_tokens=buffer_tokens, text_field=text_field)
    first = stream.next_batch()
    if not first:
        raise InvalidInputError("The activation source gave no batch; the corpus has no usable tokens.")
    for i, dc in enumerate(configs.values()):
        _check_widths(_Layers.pair(first, i), dc)
    runs = _Layers(configs, config, first)
    pending: list[torch.Tensor] | None = first
    if resume:
        runs.load(torch.load(checkpoint, weights_only=False), stream)
        pending = None
    return _loop(runs, stream, pending, Path(out), progress)


def _loop(
    runs: _Layers, stream: ActivationStream, pending: list[torch.Tensor] | None, out: Path, progress: Progress | None
) -> dict[int, TrainResult]:
    config = runs.config
    start = time.perf_counter()
    first_run = next(iter(runs.runs.values()))
    tokens_at_start = first_run.tokens
    while first_run.step < config.steps:
        batch = pending or stream.next_batch()
        pending = None
        if not batch:
            break
        figures = runs.step(batch)
        if config.checkpoint_every and first_run.step % config.checkpoint_every == 0:
            out.mkdir(parents=True, exist_ok=True)
            _save(out / CHECKPOINT_FILE, runs, stream)
        if progress is not None:
            mean = {key: sum(f[key] for f in figures.values()) / len(figures) for key in ("fve", "l0", "mse")}
            progress(min(1.0, first_run.tokens / config.tokens), mean)
    seconds = time.perf_counter() - start
    results = {}
    for layer, run in runs.runs.items():
        frequency = run.counts.double() / max(run.tokens, 1)
        results[layer] = TrainResult(run.state.export(runs.configs[layer]), torch.log10(frequency + 1e-10).float(),
                                     run.history, run.tokens - tokens_at_start, seconds, tokens_at_start)  # fmt: skip
        folder = layer_folder(out, layer)
        saelens_format.save(results[layer].dictionary, folder, results[layer].log_sparsity)
        write_summary(folder, results[layer], config)
    return results


def write_transcoder_summary(
    out: str | Path, results: dict[int, TrainResult], evaluations: dict[int, dict[str, Any]] | None,
    replacement: dict[str, Any] | None,
) -> Path:  # fmt: skip
    """``pellucid_transcoders.json``: each layer's last training figures and evaluation, and the replacement model's."""
    layers = {}
    for layer, result in sorted(results.items()):
        last = result.history[-1] if result.history else {}
        layers[str(layer)] = {"folder": layer_folder(out, layer).name, "tokens": result.resumed_at + result.tokens,
                              **{k: last[k] for k in ("fve", "l0", "dead") if k in last},
                              "evaluation": (evaluations or {}).get(layer)}  # fmt: skip
    seconds = max((r.seconds for r in results.values()), default=0.0)
    session = max((r.tokens for r in results.values()), default=0)
    resumed_at = max((r.resumed_at for r in results.values()), default=0)
    data = {"layers": layers, "architecture": sorted({r.dictionary.config.architecture for r in results.values()}),
            "skip": sorted(layer for layer, r in results.items() if r.dictionary.config.skip),
            "seconds": round(seconds, 3), "tokens": resumed_at + session,
            "tokens_per_second": round(session / seconds, 1) if seconds > 0 else 0.0,
            **({"resumed_at": resumed_at} if resumed_at else {}),
            "replacement": replacement or {"note": "not measured: give held-out text (--eval) to compare the "
                                                   "replacement model with the original"}}  # fmt: skip
    path = Path(out) / SUMMARY_FILE
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
