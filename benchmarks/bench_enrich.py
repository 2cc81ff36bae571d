"""Enrichment throughput: records/s of the enrichment worker next to the encoder's raw speed.

Three measurements in one process, on the same texts (SST-2 sentences from ../shared/data when
present, synthetic support questions otherwise), into a fresh SQLite store:

1. **encoder, raw**: ``Encoder.embed`` over every prompt and response in batches of 64 — the
   ceiling for the embedding half (two texts per record);
2. **enrich, embeddings only** (``lm_metrics=False``): the worker reading records, embedding
   prompts and responses, and writing vectors and metrics — the overhead of the store shows as
   the gap to (1), expressed as a ratio;
3. **enrich, with the model** (SmolLM2 teacher-forced perplexity and entropy per record) on
   ``--lm-records`` records: one forward pass per record dominates.

    python benchmarks/bench_enrich.py [--records 2000] [--lm-records 50] [--batch-size 64] [--threads 1]

Timings on a shared 2-core machine move 30–50 % between runs; compare ratios from one run. On a
busy machine pass ``--threads 1``: two torch threads competing with other processes for two cores
made SmolLM2's forward pass ten times slower here (4.5 s instead of 0.47 s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pellucid import load_encoder
from pellucid.monitor import NewRecord, Store
from pellucid.service.enrichment import Enricher
from pellucid.settings import Settings

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "dev.tsv"


def texts(n: int) -> list[str]:
    if SST2.is_file():
        lines = [line.split("\t", 1)[1].strip() for line in SST2.read_text().splitlines()[1:] if "\t" in line]
        return [lines[i % len(lines)] + ("" if i < len(lines) else f" ({i})") for i in range(n)]
    return [f"Does my plan {i % 37} cover physiotherapy after knee surgery? Case {i}." for i in range(n)]


def records(n: int, model: str) -> list[NewRecord]:
    prompts = texts(n)
    return [
        NewRecord(
            prompt=[{"role": "user", "content": f"Is this review positive or negative? {p}"}],
            response="Positive." if i % 2 else "Negative: the reviewer did not enjoy it.",
            model=model,
        )
        for i, p in enumerate(prompts)
    ]


def fresh_store(folder: Path, rows: list[NewRecord], name: str) -> Store:
    store = Store.open(f"sqlite:///{folder / name}.db")
    store.repo.insert_records(rows)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--lm-records", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    settings = Settings.from_env(threads=args.threads)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    encoder = load_encoder(settings=settings)
    rows = records(args.records, settings.default_model)
    all_texts = [r.prompt_text for r in rows] + [r.response or "" for r in rows]
    encoder.embed(all_texts[:64])  # warm up

    started = time.perf_counter()
    encoder.embed(all_texts)
    raw_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = fresh_store(folder, rows, "embed")
        stats = Enricher(store, settings, encoder=encoder, batch_size=args.batch_size, lm_metrics=False).run_once()
        store.close()
        lm_rows = records(args.lm_records, settings.default_model)
        store = fresh_store(folder, lm_rows, "lm")
        from pellucid.models import LM

        lm = LM.load(settings.default_model, settings)
        lm_stats = Enricher(store, settings, encoder=encoder, lm=lm, batch_size=args.batch_size).run_once()
        store.close()

    raw_rps = args.records / raw_s
    print(f"{'measurement':<34} {'records':>8} {'seconds':>8} {'records/s':>10} {'texts/s':>9}")
    print(
        f"{'encoder.embed, raw (2 texts/rec)':<34} {args.records:>8} {raw_s:>8.2f} {raw_rps:>10.1f} "
        f"{2 * args.records / raw_s:>9.1f}"
    )
    print(
        f"{'enrich, embeddings only':<34} {stats.records:>8} {stats.seconds:>8.2f} "
        f"{stats.records_per_second:>10.1f} {stats.embeddings / stats.seconds:>9.1f}"
    )
    print(
        f"{'enrich, embeddings + ' + lm.name:<34} {lm_stats.records:>8} {lm_stats.seconds:>8.2f} "
        f"{lm_stats.records_per_second:>10.1f} {lm_stats.embeddings / lm_stats.seconds:>9.1f}"
    )
    print(f"embeddings-only enrichment runs at {stats.records_per_second / raw_rps:.0%} of the raw encoder rate")


if __name__ == "__main__":
    main()
