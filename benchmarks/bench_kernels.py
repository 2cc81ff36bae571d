"""Linear-layer kernels: PyTorch's default (MKL) against oneDNN, alone and inside real work.

1. **Products**: GFLOPS of ``F.linear`` (MKL on x86 wheels) and of oneDNN's
   ``mkldnn::_linear_pointwise`` on SmolLM2-135M's layer shapes (``[M, 576] × [576, 576 | 1536]``,
   ``[M, 1536] × [1536, 576]``) and its unembedding (``[M, 576] × [576, 49152]``) for several
   token counts ``M``.
2. **End to end**, on the same loaded models with :mod:`pellucid.models.fast_linear` switched on and
   off in turn (interleaved, best of ``--repeats``): greedy generation of 48 tokens, occlusion over a
   chat prompt, a batch of MiniLM sentence embeddings. Outputs are compared too (same text, scores
   and embeddings within fp32 rounding).

    python benchmarks/bench_kernels.py [--repeats 2] [--threads 2]

Timings on a shared 2-core machine move 30–50 % between runs; the ratios from one run are the figure.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pellucid.attribution import explain
from pellucid.models import LM, Encoder, fast_linear
from pellucid.settings import Settings

SHAPES = ((576, 576), (576, 1536), (1536, 576), (576, 49152))
TOKENS = (1, 16, 128, 512, 2048)


def cpu_name() -> str:
    """The processor's model name (Linux), for the record of where a figure was measured."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def best_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def gflops(product: Callable[[torch.Tensor, torch.Tensor], Any], m: int, k: int, n: int, repeats: int) -> float:
    """Throughput of ``product(x [m, k], w [n, k])`` over enough calls to take ~10 ms or more."""
    x, w = torch.randn(m, k), torch.randn(n, k)
    loops = max(3, int(2e9 / (2 * m * k * n)))
    product(x, w)
    seconds, _ = best_seconds(lambda: [product(x, w) for _ in range(loops)], repeats)
    return 2 * m * k * n * loops / seconds / 1e9


def products(repeats: int) -> None:
    print("matrix products, GFLOPS (MKL via F.linear / oneDNN):")
    print(f"{'M':>6} " + " ".join(f"{f'{k}x{n}':>17}" for k, n in SHAPES))
    for m in TOKENS:
        cells = []
        for k, n in SHAPES:
            default = gflops(F.linear, m, k, n, repeats)
            onednn = gflops(lambda x, w: fast_linear._product(x, w, None), m, k, n, repeats)
            cells.append(f"{default:7.0f} / {onednn:7.0f}")
        print(f"{m:>6} " + " ".join(f"{c:>17}" for c in cells), flush=True)


def end_to_end(repeats: int, settings: Settings) -> None:
    lm = LM.load("smollm2-135m-instruct", settings)
    encoder = Encoder.load("all-minilm-l6-v2", settings)
    chat = [{"role": "user", "content": "What is the capital of France? Please answer in one short sentence."}]
    sentences = [f"Ticket {i}: the export to CSV fails after the last update, what should I do?" for i in range(128)]
    jobs: dict[str, Callable[[], Any]] = {
        "generate ≤ 48 tokens (greedy)": lambda: lm.generate(chat, max_new_tokens=48).text,
        "occlusion, chat question": lambda: np.asarray(
            explain(lm, chat, "The capital of France is", method="occlusion", granularity="token").scores
        ),
        "MiniLM embeddings, 128 texts": lambda: encoder.embed(sentences),
    }
    lm.generate(chat, max_new_tokens=4)  # warm-up: thread pools, first-call allocations
    print(f"\n{'end to end':30} {'default s':>9} {'oneDNN s':>9} {'speed-up':>8}  outputs")
    for name, job in jobs.items():
        times: dict[bool, float] = {}
        outputs: dict[bool, Any] = {}
        for _ in range(repeats):
            for fast in (False, True):
                for model in (lm.model, encoder.model):
                    fast_linear.accelerate(model, "on") if fast else fast_linear.restore(model)
                seconds, outputs[fast] = best_seconds(job, 1)
                times[fast] = min(times.get(fast, float("inf")), seconds)
        if isinstance(outputs[True], str):
            same = "same text" if outputs[True] == outputs[False] else "DIFFERENT TEXT"
        else:
            same = f"max diff {np.nanmax(np.abs(outputs[True] - outputs[False])):.1e}"
        speedup = times[False] / times[True]
        print(f"{name:30} {times[False]:9.2f} {times[True]:9.2f} {speedup:7.2f}x  {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-products", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not fast_linear.kernel_present():
        raise SystemExit("This PyTorch build has no oneDNN linear kernel: Pellucid uses PyTorch's default path.")
    capability = fast_linear.cpu_capability()
    gain = fast_linear.measured_gain()
    chosen = "oneDNN" if fast_linear.available("auto") else "PyTorch's default"
    print(f"torch {torch.__version__}, {cpu_name()}, CPU capability {capability}, {args.threads} threads; "
          f"auto mode measured oneDNN {gain:.2f}x the default: it uses {chosen}")  # fmt: skip
    if not args.skip_products:
        products(args.repeats)
    end_to_end(args.repeats, Settings.from_env())


if __name__ == "__main__":
    main()
