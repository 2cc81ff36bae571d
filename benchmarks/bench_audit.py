"""CrowS-Pairs scoring throughput: batched (padded, length-sorted) vs one ``LM.score`` per sentence.

Both paths compute the same full-sentence log-likelihoods (checked here to 1e-4); the figure is
the ratio of their wall times, measured side by side in one run (timings move 30-50 % between
runs on shared 2-core machines, so only the ratio is meaningful).

    python benchmarks/bench_audit.py                 # SmolLM2, 50 pairs
    python benchmarks/bench_audit.py --pairs 200 --model smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "crows_pairs" / "crows_pairs_anonymized.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--data", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--batch-tokens", type=int, default=2048)
    args = parser.parse_args()

    import torch

    import pellucid as pl
    from pellucid.audit.stereotypes_check import load_pairs, sentence_logprobs

    torch.set_num_threads(2)
    lm = pl.load_model(args.model)
    sentences = [s for p in load_pairs(args.data, args.pairs) for s in (p.sent_more, p.sent_less)]
    sentence_logprobs(lm, sentences[:4])  # warm-up
    t0 = time.perf_counter()
    batched = sentence_logprobs(lm, sentences, batch_tokens=args.batch_tokens)
    t1 = time.perf_counter()
    single = sentence_logprobs(lm, sentences, batched=False)
    t2 = time.perf_counter()
    diff = float(np.abs(batched - single).max())
    assert diff < 1e-3, f"batched and unbatched disagree by {diff}"
    tb, tu = t1 - t0, t2 - t1
    print(
        f"{len(sentences)} sentences · batched {tb:.2f} s ({len(sentences) / tb:.1f}/s) · "
        f"unbatched {tu:.2f} s ({len(sentences) / tu:.1f}/s) · speed-up {tu / tb:.2f}× · max |Δ| {diff:.1e}"
    )


if __name__ == "__main__":
    main()
