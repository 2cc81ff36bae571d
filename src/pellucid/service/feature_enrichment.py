"""Feature enrichment: which dictionary features each logged response activates, stored per record.

For every answered record, one teacher-forced pass over ``prompt + response`` on the record's
model reads the dictionary's site at the response's tokens; each latent's activation is its
highest over those tokens, and the ``top`` strongest are stored
(:meth:`~pellucid.monitor.repository_features.FeatureQueries.add_features`). Drift then compares
how often each feature fires between windows without running the model again
(:func:`pellucid.service.drift.run_drift` with ``features=``), and the records where a
feature fires most strongly are one query away.

    pellucid features enrich sae/                    # once, over every waiting record
    PELLUCID_ENRICH_FEATURES=sae/ pellucid serve    # continuously, next to the other enrichment
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.background import PeriodicWorker
from pellucid.service.records import chat_flag

if TYPE_CHECKING:
    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models import LM
    from pellucid.monitor.records import StoredRecord
    from pellucid.monitor.store import Store

log = logging.getLogger(__name__)

#: latents kept per response (the strongest)
TOP_FEATURES = 32


def dictionary_name(folder: str | Path) -> str:
    """The name features are stored under: the dictionary folder's name."""
    return Path(folder).resolve().name


def response_features(
    lm: LM, dictionary: SparseDictionary, prompt: Any, response: str, *, chat: bool | None = None,
    top: int = TOP_FEATURES,
) -> list[tuple[int, float]]:  # fmt: skip
    """The ``top`` latents with the highest activation over the response's tokens, strongest first."""
    import torch

    enc = lm.encode(prompt, chat=chat)
    target = lm.encode_target(response)
    lm.check_length(len(enc) + len(target), "logged prompt plus response")
    ids = torch.tensor([enc.ids + target], dtype=torch.long, device=lm.device)
    site = dictionary.config.site
    _, cache = lm.run_with_cache(ids, [site])
    with torch.no_grad():
        z = dictionary.encode(cache[site][0, len(enc) :].float())  # the response's positions
        best = z.max(dim=0).values
        values, latents = best.topk(min(top, best.numel()))
    return [(int(i), float(v)) for i, v in zip(latents.tolist(), values.tolist(), strict=True) if v > 0]


@dataclass
class FeatureStats:
    records: int = 0
    features: int = 0
    skipped: int = 0
    seconds: float = 0.0


class FeatureEnricher(PeriodicWorker):
    """Stores each answered record's top features for one dictionary (see the module).

    Args:
        store: the monitoring store.
        folder: the dictionary folder (SAELens layout), trained for ``lm``'s model.
        lm: the model the dictionary belongs to; records of other models are skipped (marked, 0 features).
    """

    thread_name = "pellucid-feature-enricher"

    def __init__(
        self, store: Store, folder: str | Path, lm: LM, *, top: int = TOP_FEATURES, batch_size: int = 32,
        interval: float = 10.0,
    ) -> None:  # fmt: skip
        from pellucid.features.saelens_format import load

        if top < 1:
            raise InvalidInputError(f"top={top}; keep at least 1 feature per response.")
        self.store, self.lm, self.top = store, lm, top
        self.dictionary = load(folder, lm)
        self.name = dictionary_name(folder)
        self.batch_size, self.interval = batch_size, interval
        super().__init__()

    def _features(self, record: StoredRecord, stats: FeatureStats) -> list[tuple[int, float]]:
        if record.model not in (None, self.lm.name) or not record.response:
            stats.skipped += 1
            return []
        try:
            return response_features(
                self.lm, self.dictionary, record.prompt, record.response, chat=chat_flag(record.params), top=self.top
            )
        except InvalidInputError as exc:  # too long for the context window, empty after tokenizing...
            log.info("feature enrichment: record %s skipped: %s", record.id, exc)
            stats.skipped += 1
            return []

    def run_once(self, limit: int | None = None, *, progress: Callable[[int, int], None] | None = None) -> FeatureStats:
        """Compute and store the features of up to ``limit`` waiting records (all when ``None``)."""
        if limit is not None and limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}.")
        started, stats = time.perf_counter(), FeatureStats()
        while limit is None or stats.records < limit:
            size = self.batch_size if limit is None else min(self.batch_size, limit - stats.records)
            batch = self.store.repo.missing_features(self.name, limit=size)
            if not batch or self._stop.is_set():
                break
            found = [(record.id, self._features(record, stats)) for record in batch]
            stats.features += self.store.repo.add_features(self.name, found)
            stats.records += len(batch)
            if progress is not None:
                progress(stats.records, max(stats.records, limit or stats.records))
        stats.seconds = time.perf_counter() - started
        return stats

    def run_round(self) -> None:
        stats = self.run_once()
        if stats.records:
            log.info("stored the features of %d records in %.1f s", stats.records, stats.seconds)
