"""Feature attribution vs ``grad_x_input`` on SmolLM2-135M: same prompt, same target, one process.

Feature attribution (:func:`pellucid.features.attribution.attribute_features`) is one forward
with the dictionary spliced in and one backward; ``grad_x_input`` is one forward and one
backward through the embeddings. The target is ≤ 2× ``grad_x_input``'s time for the attribution
itself; the self-check (one more forward, ablating the top features) is timed separately.

The dictionary's weights do not change the cost, so a random TopK dictionary of the benchmark's
shape (4,608 latents, k = 32, a mid-depth residual site) stands in unless ``--dictionary DIR``
gives a trained one. Each side runs ``--repeats`` times, interleaved; the best time is kept.

    python benchmarks/bench_feature_attribution.py [--repeats 5] [--dictionary sae/]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import torch

from pellucid.attribution import explain
from pellucid.features import saelens_format
from pellucid.features.activations import site_width
from pellucid.features.attribution import attribute_features
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from pellucid.models import LM, fast_linear
from pellucid.settings import Settings

PROMPT = "The Eiffel Tower is located in the city of"
TARGET = " Paris"  # one token: both methods then need exactly one backward pass


def _random_dictionary(lm: LM, site: str, latents: int, k: int) -> SparseDictionary:
    d = site_width(lm, site)
    dictionary = SparseDictionary(DictionaryConfig("topk", d, latents, k, site, lm.name, lm.version))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        dictionary.W_enc.copy_(torch.randn(d, latents, generator=g) / d**0.5)
        dictionary.W_dec.copy_(dictionary.W_enc.T)
    return dictionary


def _timed(fn: Callable[[], Any], times: list[float]) -> Any:
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--dictionary", default=None, help="A trained dictionary folder (default: random weights).")
    parser.add_argument("--latents", type=int, default=4608)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lm = LM.load(args.model, Settings.from_env())
    site = f"blocks.{lm.n_layers // 2}.resid_post"
    dictionary = (
        saelens_format.load(args.dictionary, lm)
        if args.dictionary
        else _random_dictionary(lm, site, args.latents, args.k)
    )
    grad: list[float] = []
    feats: list[float] = []
    checked: list[float] = []
    for _ in range(args.repeats + 1):  # the first round warms up both paths and is dropped
        _timed(lambda: explain(lm, PROMPT, TARGET, "grad_x_input"), grad)
        _timed(lambda: attribute_features(lm, PROMPT, TARGET, dictionary, verify=0), feats)
        result = _timed(lambda: attribute_features(lm, PROMPT, TARGET, dictionary, verify=5), checked)
    best = {"grad_x_input": min(grad[1:]), "features": min(feats[1:]), "features+self_check": min(checked[1:])}
    out = {
        "model": lm.name, "site": dictionary.config.site, "latents": dictionary.d_sae, "k": dictionary.config.k,
        "fast_kernels": fast_linear.kernel_present(), "seconds": best,
        "ratio_features_over_grad_x_input": best["features"] / best["grad_x_input"],
        "ratio_with_self_check": best["features+self_check"] / best["grad_x_input"],
        "completeness_residual": result.meta["completeness_residual"],
        "active_features": result.meta["active_features"],
    }  # fmt: skip
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
