"""Train a dictionary on a stream of activations: Adam, a warm-up/decay schedule, unit-norm decoder
rows, AuxK for dead latents, and checkpoints a run can resume from.

The loop (:func:`fit`) reads batches from any :class:`BatchSource` — an
:class:`~pellucid.features.activations.ActivationStream` over a corpus, or a :class:`TensorSource`
over activations already in memory (tests, cached benchmarks) — and for each one:

1. computes the architecture's loss (:mod:`pellucid.features.objective`: sparse for TopK and
   BatchTopK), plus AuxK on latents dead for more than ``dead_tokens`` tokens;
2. removes the decoder gradient's component along each row, steps Adam, renormalises the rows;
3. updates the learning rate: linear warm-up over ``warmup`` of the steps, constant, then a linear
   decay to 0 over the last ``decay`` of them;
4. counts which latents fired (for dead-latent tracking and the saved log-sparsity);
5. every ``checkpoint_every`` steps writes ``checkpoint.pt`` (weights, Adam, schedule, counters and
   the source's position) into the output folder; ``resume=True`` continues from it and, with the
   same seed and data, ends with the same weights as an uninterrupted run. A resumed run may be
   given another ``tokens`` (at least what it has trained on) to lengthen or shorten it; the
   schedule then follows the new total.

The learning rate defaults to Gao et al.'s scaling ``2e-4 / sqrt(d_sae / 16384)``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import torch

from pellucid.errors import InvalidInputError
from pellucid.features import objective as obj
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary

CHECKPOINT_FILE = "checkpoint.pt"
Progress = Callable[[float, dict[str, float]], None]


class BatchSource(Protocol):
    """Anything that hands out batches: one ``[B, width]`` tensor per site (input, and output for a transcoder)."""

    def next_batch(self) -> list[torch.Tensor] | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TensorSource:
    """Shuffled batches over tensors already in memory, epoch after epoch (seeded, resumable)."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int = 4096, seed: int = 0) -> None:
        if not tensors or any(t.shape[0] != tensors[0].shape[0] for t in tensors) or tensors[0].shape[0] == 0:
            raise InvalidInputError("TensorSource needs one or more non-empty tensors with the same number of rows.")
        self.tensors, self.batch_size = tensors, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(tensors[0].shape[0], generator=self.generator)
        self._at = 0

    def next_batch(self) -> list[torch.Tensor]:
        if self._at >= self._order.numel():
            self._order, self._at = torch.randperm(self.tensors[0].shape[0], generator=self.generator), 0
        rows = self._order[self._at : self._at + self.batch_size]
        self._at += rows.numel()
        return [t[rows].float() for t in self.tensors]

    def state_dict(self) -> dict[str, Any]:
        return {"order": self._order, "at": self._at, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._order, self._at = state["order"], int(state["at"])
        self.generator.set_state(state["generator"])


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the dictionary's own shape lives in :class:`DictionaryConfig`)."""

    tokens: int = 2_000_000
    batch_size: int = 4096
    lr: float | None = None
    warmup: float = 0.01
    decay: float = 0.2
    aux_k: int | None = None
    aux_coefficient: float = 1 / 32
    dead_tokens: int = 1_000_000
    threshold_lr: float = 0.01
    l0_coefficient: float = 1e-3
    checkpoint_every: int = 0
    log_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("tokens", "batch_size", "dead_tokens"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name}={getattr(self, name)}; it must be at least 1.")
        if not (0 <= self.warmup <= 1 and 0 <= self.decay <= 1 and self.warmup + self.decay <= 1):
            raise InvalidInputError(f"warmup={self.warmup}, decay={self.decay}: each in [0, 1], together ≤ 1.")
        if self.lr is not None and not self.lr > 0:
            raise InvalidInputError(f"lr={self.lr}; it must be positive (or None for the default scaling).")

    @property
    def steps(self) -> int:
        return math.ceil(self.tokens / self.batch_size)

    def learning_rate(self, d_sae: int) -> float:
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(d_sae / 16384)


@dataclass
class TrainResult:
    """The trained dictionary, each latent's log10 firing frequency, and the run's figures.

    ``tokens`` and ``seconds`` are this session's (so ``tokens_per_second`` is its speed);
    ``resumed_at`` is how many tokens the checkpoint had already trained on (0 for a fresh run).
    """

    dictionary: SparseDictionary
    log_sparsity: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    resumed_at: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def _schedule(config: TrainConfig) -> Callable[[int], float]:
    steps = config.steps
    warm = max(1, round(config.warmup * steps)) if config.warmup > 0 else 0
    decay = round(config.decay * steps)

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if decay and step >= steps - decay:
            return max(0.0, (steps - step) / decay)
        return 1.0

    return factor


class _Run:
    """The mutable state of one training run (what a checkpoint holds)."""

    def __init__(self, dconfig: DictionaryConfig, config: TrainConfig, first: list[torch.Tensor]) -> None:
        x, y = first[0], first[-1]
        self.state = obj.TrainState(dconfig, x, y, config.seed)
        params = [self.state.enc, self.state.b_enc, self.state.dec, self.state.b_dec]
        if dconfig.architecture == "jumprelu":
            params.append(self.state.log_threshold)
        if self.state.skip is not None:
            params.append(self.state.skip)
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate(dconfig.d_sae), betas=(0.9, 0.999))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(config))
        self.step, self.tokens = 0, 0
        self.since_fired = torch.zeros(dconfig.d_sae, dtype=torch.long)
        self.counts = torch.zeros(dconfig.d_sae, dtype=torch.long)
        self.l0_coefficient = config.l0_coefficient
        self.history: list[dict[str, float]] = []
        self.budget = config.tokens

    def state_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "tokens": self.tokens,
            "since_fired": self.since_fired,
            "counts": self.counts,
            "l0_coefficient": self.l0_coefficient,
            "history": self.history,
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        if int(data["tokens"]) > self.budget:
            raise InvalidInputError(
                f"tokens={self.budget}, but the checkpoint has already trained on {int(data['tokens'])} tokens; "
                "give a larger --tokens to train longer, or start afresh."
            )
        self.state.load_state_dict(data["state"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        self.step, self.tokens = int(data["step"]), int(data["tokens"])
        self.since_fired, self.counts = data["since_fired"], data["counts"]
        self.l0_coefficient, self.history = float(data["l0_coefficient"]), list(data["history"])


def _loss(
    run: _Run, dconfig: DictionaryConfig, config: TrainConfig, batch: list[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, Any]]:
    xc, y = run.state.inputs(batch[0], batch[-1])
    dead = run.since_fired > config.dead_tokens
    aux_k = config.aux_k or max(1, dconfig.width_out // 2)
    if dconfig.architecture == "topk":
        return obj.topk_loss(run.state, xc, y, dconfig.k, dead, aux_k, config.aux_coefficient)
    if dconfig.architecture == "batchtopk":
        return obj.batchtopk_loss(run.state, xc, y, dconfig.k, dead, aux_k, config.aux_coefficient, config.threshold_lr)
    loss, info = obj.jumprelu_loss(run.state, xc, y, run.l0_coefficient)
    run.l0_coefficient *= math.exp(0.01 if float(info["l0"]) > dconfig.k else -0.01)  # steer L0 towards k
    return loss, info


def _step(run: _Run, dconfig: DictionaryConfig, config: TrainConfig, batch: list[torch.Tensor]) -> dict[str, float]:
    loss, info = _loss(run, dconfig, config, batch)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.state.project_decoder_grad()
    run.optimizer.step()
    run.scheduler.step()
    run.state.normalise_decoder()
    n = batch[0].shape[0]
    fired = torch.bincount(info["fired"], minlength=dconfig.d_sae)
    run.counts += fired
    run.since_fired += n
    run.since_fired[fired > 0] = 0
    run.step, run.tokens = run.step + 1, run.tokens + n
    _, y = run.state.inputs(batch[0], batch[-1])
    variance = (y - y.mean(0)).pow(2).sum(-1).mean()
    return {
        "mse": float(info["mse"]),
        "fve": 1 - float(info["mse"]) / max(float(variance), 1e-12),
        "l0": float(info["l0"]),
    }


def fit(
    source: BatchSource,
    dconfig: DictionaryConfig,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Train a dictionary of shape ``dconfig`` on ``source``'s batches for ``config.tokens`` tokens.

    ``out`` is where checkpoints go (needed for ``checkpoint_every`` and ``resume``); ``progress``
    is called after each step with the fraction of tokens done and the step's figures.
    """
    config = config or TrainConfig()
    checkpoint = Path(out) / CHECKPOINT_FILE if out is not None else None
    if resume and (checkpoint is None or not checkpoint.is_file()):
        raise InvalidInputError(f"resume=True but there is no {CHECKPOINT_FILE} in {str(out)!r} to resume from.")
    first = source.next_batch()
    if not first:
        raise InvalidInputError("The activation source gave no batch; the corpus has no usable tokens.")
    _check_widths(first, dconfig)
    run = _Run(dconfig, config, first)
    pending: list[torch.Tensor] | None = first
    if resume and checkpoint is not None:
        _resume(checkpoint, run, source, dconfig, config)
        pending = None
    start = time.perf_counter()
    tokens_at_start = run.tokens
    while run.step < config.steps:
        batch = pending or source.next_batch()
        pending = None
        if not batch:
            break
        figures = _step(run, dconfig, config, batch)
        if run.step % config.log_every == 0 or run.step == config.steps:
            dead = float((run.since_fired > config.dead_tokens).float().mean())
            run.history.append({"step": run.step, "tokens": run.tokens, **figures, "dead": dead})
        if checkpoint is not None and config.checkpoint_every and run.step % config.checkpoint_every == 0:
            _save_checkpoint(checkpoint, run, source, dconfig, config)
        if progress is not None:
            progress(min(1.0, run.tokens / config.tokens), figures)
    seconds = time.perf_counter() - start
    frequency = run.counts.double() / max(run.tokens, 1)
    return TrainResult(dictionary=run.state.export(dconfig), log_sparsity=torch.log10(frequency + 1e-10).float(),
                       history=run.history, tokens=run.tokens - tokens_at_start, seconds=seconds,
                       resumed_at=tokens_at_start)  # fmt: skip


def _resume(checkpoint: Path, run: _Run, source: BatchSource, dconfig: DictionaryConfig, config: TrainConfig) -> None:
    """Restore the run and the source from ``checkpoint``, refused when it was made with other settings."""
    saved = torch.load(checkpoint, weights_only=False)
    _check_same(saved, dconfig, config)
    run.load_state_dict(saved["run"])
    source.load_state_dict(saved["source"])


def _check_widths(batch: list[torch.Tensor], dconfig: DictionaryConfig) -> None:
    widths = (dconfig.d_in, dconfig.width_out) if dconfig.is_transcoder else (dconfig.d_in,)
    got = tuple(t.shape[-1] for t in batch[: len(widths)])
    if got != widths:
        raise InvalidInputError(f"The activations have widths {got} but the dictionary expects {widths}.")


def _save_checkpoint(
    path: Path, run: _Run, source: BatchSource, dconfig: DictionaryConfig, config: TrainConfig
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "run": run.state_dict(),
        "source": source.state_dict(),
        "dictionary": dconfig.to_dict(),
        "train": asdict(config),
    }
    partial = path.with_suffix(".tmp")
    torch.save(data, partial)
    partial.replace(path)


def _defaults(kind: type) -> dict[str, Any]:
    """The fields of dataclass ``kind`` that have a default, with it."""
    return {f.name: f.default for f in fields(kind) if f.default is not MISSING}


def _check_same(saved: dict[str, Any], dconfig: DictionaryConfig, config: TrainConfig) -> None:
    ours = {"dictionary": dconfig.to_dict(), "train": asdict(config)}
    # a setting added since the checkpoint was made has its default there (a plain transcoder has skip=False)
    kinds = {"dictionary": DictionaryConfig, "train": TrainConfig}
    for key, value in ours.items():
        stored = {**_defaults(kinds[key]), **saved[key]}
        mine = dict(value)
        # ``tokens`` may change: a resumed run can be lengthened or shortened (the schedule follows the new total)
        for volatile in ("checkpoint_every", "log_every", "model_version", "extra", "tokens"):
            stored.pop(volatile, None)
            mine.pop(volatile, None)
        if stored != mine:
            changed = sorted(k for k in set(stored) | set(mine) if stored.get(k) != mine.get(k))
            raise InvalidInputError(
                f"The checkpoint was made with other settings ({', '.join(changed)} differ: "
                f"{ {k: stored.get(k) for k in changed} }); resume with the same settings or start afresh."
            )


def write_summary(folder: str | Path, result: TrainResult, config: TrainConfig) -> Path:
    """``pellucid_train.json``: the settings and figures of the run, beside the dictionary."""
    path = Path(folder) / "pellucid_train.json"
    data = {
        "train": asdict(config),
        "tokens": result.resumed_at + result.tokens,  # trained on, over every session of the run
        "seconds": round(result.seconds, 3),  # this session's time and speed
        "tokens_per_second": round(result.tokens_per_second, 1),
        **({"resumed_at": result.resumed_at} if result.resumed_at else {}),
        "history": result.history,
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
