"""Sparse dictionary on SmolLM2: quality, speed, and the same training run through SAELens.

Reads the activations of a mid-depth residual site (``blocks.15.resid_post`` of 30 blocks) from
SmolLM2-135M-Instruct over the SST-2 training sentences and the UD English EWT dev text
(``../shared/data/``) in one pass (at most ``--read-tokens``), shuffled through the stream's bounded
buffer, and keeps them in memory (float16; ``--cache FILE`` keeps them on disk for the next run).
Then, on that same cache, for ``--tokens`` training tokens (epochs over the cache):

1. Pellucid trains a TopK SAE (``--latents``, ``--k``; Adam, warm-up and decay, AuxK);
2. if ``sae-lens`` is installed, SAELens' ``TopKTrainingSAE`` trains with the same width, k,
   learning rate and schedule, batch size, AuxK coefficient and dead-latent window, in the same
   loop (its own forward/loss, Adam, the same batches), so only the model code differs;

and each dictionary is evaluated on the held-out EWT test text: fraction of variance explained,
L0, dead latents, CE loss recovered. Throughput is training tokens per second (activation reading
is timed apart). Timings on a shared machine move between runs: read the ratio from one run.

    python benchmarks/bench_features.py --quick     # 50k tokens, 1152 latents: checks it runs
    python benchmarks/bench_features.py --cache /tmp/acts.pt   # 4608 latents, k=32, 3M tokens
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from pellucid.features.activations import ActivationStream
from pellucid.features.dictionary import SparseDictionary
from pellucid.features.evaluate import evaluate
from pellucid.features.pipeline import dictionary_config
from pellucid.features.train import TensorSource, TrainConfig, _schedule, fit
from pellucid.models import LM
from pellucid.settings import Settings

#: the shared data sets: $PELLUCID_DATA_DIR, ../shared/data beside the checkout, or /work/shared/data
_CANDIDATES = [Path(os.environ.get("PELLUCID_DATA_DIR", "")), Path(__file__).resolve().parents[2] / "shared" / "data"]
DATA = next((p for p in _CANDIDATES if str(p) != "." and p.is_dir()), Path("/work/shared/data"))


def corpus(data: Path) -> list[str]:
    """SST-2 training sentences then EWT dev sentences (the training text; EWT test is held out)."""
    with (data / "sst2" / "train.tsv").open(encoding="utf-8") as handle:
        texts = [row["sentence"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    ewt = (data / "ud_english_ewt" / "en_ewt-ud-dev.conllu").read_text(encoding="utf-8").splitlines()
    return texts + [line[9:] for line in ewt if line.startswith("# text = ")]


def cache_activations(lm: LM, texts: list[str], site: str, tokens: int, batch: int) -> tuple[torch.Tensor, float]:
    """Up to ``tokens`` activations of ``site``: one pass over the corpus (no text is read twice)."""
    buffer = max(4 * batch, min(131072, tokens // 2))
    stream = ActivationStream(lm, texts, [site], batch_size=batch, buffer_tokens=buffer, seed=0, cycle=False)
    rows, have, start = [], 0, time.perf_counter()
    while have < tokens and (part := stream.next_batch()) is not None:
        rows.append(part[0].half())
        have += part[0].shape[0]
    return torch.cat(rows)[:tokens], time.perf_counter() - start


def cached_activations(lm: LM, args: argparse.Namespace, site: str) -> tuple[torch.Tensor, float]:
    """The activations from ``--cache`` when it holds this model, site and size; else read (and saved there)."""
    key = {"model": lm.name, "site": site, "tokens": args.read_tokens, "data": str(args.data)}
    if args.cache is not None and args.cache.is_file():
        saved = torch.load(args.cache, weights_only=True)
        if saved["key"] == key:
            print(f"activations from {args.cache} (read earlier in {saved['seconds'] / 60:.2f} min)")
            return saved["rows"], float(saved["seconds"])
    rows, seconds = cache_activations(lm, corpus(args.data), site, args.read_tokens, args.batch)
    if args.cache is not None:
        torch.save({"key": key, "rows": rows, "seconds": seconds}, args.cache)
    return rows, seconds


def train_saelens(cache: torch.Tensor, latents: int, k: int, config: TrainConfig, lr: float) -> tuple[Any, float]:
    """SAELens' TopK training SAE in the same loop as Pellucid's: same batches, optimiser and schedule."""
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import TrainStepInput

    d_in = cache.shape[1]
    sample = cache[:4096].float()
    scale = math.sqrt(d_in / sample.pow(2).sum(-1).mean().item())
    # use_sparse_activations=True fails in the backward pass on torch 2.13 (no view on sparse tensors)
    cfg = TopKTrainingSAEConfig(d_in=d_in, d_sae=latents, k=k, aux_loss_coefficient=config.aux_coefficient)
    sae = TopKTrainingSAE(cfg)
    with torch.no_grad():
        sae.b_dec.copy_((sample * scale).mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config))
    source = TensorSource(cache, batch_size=config.batch_size, seed=config.seed)
    since = torch.zeros(latents, dtype=torch.long)
    start = time.perf_counter()
    for step in range(config.steps):
        x = source.next_batch()[0] * scale
        out = sae.training_forward_pass(
            TrainStepInput(x, {}, since > config.dead_tokens, n_training_steps=step, is_logging_step=False)
        )
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        fired = (out.feature_acts > 0).any(0)
        since += x.shape[0]
        since[fired] = 0
    return (sae, scale), time.perf_counter() - start


def saelens_as_dictionary(trained: tuple[Any, float], template: SparseDictionary) -> SparseDictionary:
    """The SAELens SAE in raw activation units, as a Pellucid dictionary (decoder norms folded)."""
    sae, scale = trained
    sae.fold_W_dec_norm()
    out = SparseDictionary(template.config)
    with torch.no_grad():
        out.W_enc.copy_(sae.W_enc * scale)
        out.b_enc.copy_(sae.b_enc)
        out.W_dec.copy_(sae.W_dec / scale)
        out.b_dec.copy_(sae.b_dec / scale)
    return out


def row(name: str, report: Any, tokens: int, seconds: float) -> str:
    return (
        f"{name:<9} FVE {report.fve:6.3f}  CE recovered {report.ce_recovered:6.3f}  L0 {report.l0:5.1f}  "
        f"dead {100 * report.dead_fraction:5.1f} %  {tokens / seconds:9.0f} tok/s  {seconds / 60:6.2f} min"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--latents", type=int, default=4608)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=3_000_000, help="training tokens (epochs over the read ones)")
    parser.add_argument("--read-tokens", type=int, default=2_000_000, help="at most this many activations read")
    parser.add_argument("--cache", type=Path, default=None, help="keep the read activations in this file")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--eval-tokens", type=int, default=30_000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--quick", action="store_true", help="a small run that checks the script works")
    parser.add_argument("--no-saelens", action="store_true", help="skip the SAELens side")
    args = parser.parse_args()
    if args.quick:
        args.latents, args.tokens, args.batch, args.eval_tokens = 1152, 50_000, 1024, 2_000
        args.read_tokens = 50_000
    lm = LM.load(args.model, Settings.from_env())
    site = f"blocks.{args.layer}.resid_post"
    cache, read_seconds = cached_activations(lm, args, site)
    print(f"{lm.name} {site}: {cache.shape[0]} activations read in {read_seconds / 60:.2f} min "
          f"({cache.shape[0] / read_seconds:.0f} tok/s)")  # fmt: skip
    config = TrainConfig(tokens=args.tokens, batch_size=args.batch, dead_tokens=min(1_000_000, args.tokens // 4))
    dconfig = dictionary_config(lm, site, args.latents, args.k)
    result = fit(TensorSource(cache, batch_size=args.batch, seed=config.seed), dconfig, config)
    held_out = args.data / "ud_english_ewt" / "en_ewt-ud-test.conllu"
    ours = evaluate(lm, result.dictionary, held_out, max_tokens=args.eval_tokens)
    points = result.history[:: max(1, len(result.history) // 4)]
    for point in points + [p for p in result.history[-1:] if p not in points]:
        print(f"  after {point['tokens']:>9} tokens: train FVE {point['fve']:.3f}  L0 {point['l0']:.1f}  "
              f"dead {100 * point['dead']:.1f} %")  # fmt: skip
    print(row("pellucid", ours, result.tokens, result.seconds))
    if args.no_saelens:
        return
    try:
        trained, seconds = train_saelens(cache, args.latents, args.k, config, config.learning_rate(args.latents))
    except ImportError:
        print("SAELens is not installed (pip install -e '.[saelens]'): no side-by-side figures.")
        return
    theirs = evaluate(lm, saelens_as_dictionary(trained, result.dictionary), held_out, max_tokens=args.eval_tokens)
    print(row("saelens", theirs, config.steps * args.batch, seconds))
    ratio = result.tokens_per_second / (config.steps * args.batch / seconds)
    print(f"throughput ratio pellucid / saelens: {ratio:.2f}x;  FVE {ours.fve - theirs.fve:+.3f}, "
          f"CE recovered {ours.ce_recovered - theirs.ce_recovered:+.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
