"""Residual-stream activation patching on SmolLM2: Pellucid's fast sweep vs one forward per patch.

The reference is the loop TransformerLens's ``get_act_patch_resid_pre`` runs: for every
(layer, position), one full forward of the corrupted prompt with a hook that writes the
clean residual stream at that position, then the metric on the last position's logits.
It is implemented here with plain hooks (``lm.hooks``) so both sides run on the same model
in the same process; timings on a shared machine move between runs, so only the ratio
from one run is meaningful. The fast and naive timings are interleaved and each side's
best time is kept.

Two fast figures are printed: the default (cells whose clean activation equals the
corrupted one bit for bit — positions before the first differing token — are not rerun,
since patching them cannot change anything) and ``skip_identical=False`` (every one of the
layers × positions cells is recomputed), so the gain from reusing runs and batching alone
is visible.

    python benchmarks/bench_patching.py [--repeats 2] [--model smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import time

import torch

from pellucid.inspect.patching import patch
from pellucid.models import LM
from pellucid.settings import Settings

CLEAN = "Then, when John and Mary went to the store, John gave a drink to"
CORRUPTED = "Then, when John and Mary went to the store, Mary gave a drink to"
TARGET, FOIL = " Mary", " John"


def naive_resid_pre_sweep(lm: LM, clean_ids: torch.Tensor, corrupted_ids: torch.Tensor) -> torch.Tensor:
    """TransformerLens-style: one full forward per (layer, position); returns raw logit differences."""
    target, foil = lm.encode_target(TARGET)[0], lm.encode_target(FOIL)[0]
    sites = [f"blocks.{layer}.resid_pre" for layer in range(lm.n_layers)]
    _, clean_cache = lm.run_with_cache(clean_ids, sites)
    n_pos = corrupted_ids.shape[1]
    out = torch.empty(lm.n_layers, n_pos)
    for layer in range(lm.n_layers):
        for pos in range(n_pos):

            def hook(x: torch.Tensor, site: str, pos: int = pos) -> torch.Tensor:
                x = x.clone()
                x[:, pos] = clean_cache[site][:, pos]
                return x

            with torch.no_grad(), lm.hooks({sites[layer]: hook}):
                logits = lm.forward(corrupted_ids).logits
            out[layer, pos] = logits[0, -1, target] - logits[0, -1, foil]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; best time per side is kept")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lm = LM.load(args.model, Settings.from_env())
    clean_ids = torch.tensor([lm.encode(CLEAN, chat=False).ids])
    corrupted_ids = torch.tensor([lm.encode(CORRUPTED, chat=False).ids])
    n_tokens = clean_ids.shape[1]
    print(f"model={lm.name} layers={lm.n_layers} tokens={n_tokens} patches={lm.n_layers * n_tokens}")

    times: dict[str, list[float]] = {"fast": [], "fast_all_cells": [], "naive": []}
    results: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, skip in (("fast", True), ("fast_all_cells", False)):
            started = time.perf_counter()
            ex = patch(
                lm, CLEAN, CORRUPTED, target=TARGET, foil=FOIL, site="resid_pre", normalize=False, skip_identical=skip
            )
            times[name].append(time.perf_counter() - started)
            results[name] = torch.from_numpy(ex.scores).float()
            passes = ex.meta["forward_passes"]
        started = time.perf_counter()
        results["naive"] = naive_resid_pre_sweep(lm, clean_ids, corrupted_ids)
        times["naive"].append(time.perf_counter() - started)
        print("  round: " + "   ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    best = {k: min(v) for k, v in times.items()}
    print(f"naive loop            : {best['naive']:.2f} s ({lm.n_layers * n_tokens + 1} full forwards)")
    print(f"fast, all cells       : {best['fast_all_cells']:.2f} s ({passes} batched partial forwards)")
    print(f"fast (default)        : {best['fast']:.2f} s")
    for name in ("fast_all_cells", "fast"):
        diff = float((results[name] - results["naive"]).abs().max())
        print(
            f"speed-up {name:<14}: {best['naive'] / best[name]:.1f}x (target >= 4x), max |diff| {diff:.2e} "
            "(logit difference; must be <= 1e-4)"
        )


if __name__ == "__main__":
    main()
