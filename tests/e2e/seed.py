"""Synthetic monitoring data for the browser tests: records spread over two weeks, with metrics
and clustered embeddings, so every Monitor view has something to draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

TOPICS = ["refund for a broken kettle", "reset my password", "opening hours on Sunday"]


def seed(store, n: int = 240, *, seed: int = 0) -> list[str]:
    """Insert ``n`` records (the last sixth in the past day, slower and longer) with perplexity and
    3-cluster prompt embeddings; returns their ids, oldest first."""
    from pellucid.monitor import NewRecord

    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    recent = n // 6
    batch, vectors, metrics = [], [], []
    centres = rng.normal(size=(len(TOPICS), 16)) * 4
    for i in range(n):
        is_recent = i >= n - recent
        when = now - (timedelta(hours=rng.uniform(0.1, 20)) if is_recent else timedelta(days=rng.uniform(2, 13)))
        topic = i % len(TOPICS)
        record = NewRecord(
            prompt=[{"role": "user", "content": f"Question {i}: {TOPICS[topic]}?"}],
            response=f"Answer {i} about {TOPICS[topic]}.",
            model="synthetic-model",
            model_version="v2" if is_recent else "v1",
            latency_ms=float(rng.normal(900 if is_recent else 300, 40)),
            prompt_tokens=int(rng.integers(10, 40)),
            completion_tokens=int(rng.integers(60, 90) if is_recent else rng.integers(10, 30)),
            tags=["seeded"],
            created_at=when,
        )
        batch.append(record)
        vectors.append((record.id, "prompt", "synthetic-encoder", centres[topic] + rng.normal(size=16)))
        metrics.append((record.id, "perplexity", float(rng.uniform(5, 9) + (6 if is_recent else 0))))
    store.repo.insert_records(batch)
    store.repo.add_embeddings(vectors)
    store.repo.add_metrics(metrics)
    return [r.id for r in sorted(batch, key=lambda r: r.created_at)]
