"""Enrichment: the slow, model-based facts about logged calls, computed after the fact.

The gateway logs a call in microseconds; embeddings and model statistics take milliseconds per
record, so a background worker adds them later, in batches:

- MiniLM embeddings of the prompt and of the response (``embeddings`` table), encoded in
  batches by :meth:`pellucid.models.Encoder.embed` — what embedding drift, clustering and the
  projector read;
- ``perplexity`` and ``mean_entropy`` of the response under the serving model (the record's
  ``model``), teacher-forced over the logged prompt and response (:mod:`.enrich_lm`);
- ``response_tokens`` (the response's length in the serving model's tokens) and
  ``flag_count`` (how many data-quality flags the record carries).

A record is done when it has the marker metric ``enrich_version``; the queue is "records
without it", oldest first, so the work survives restarts and several workers only repeat a
batch at worst (writes are upserts). A record whose model cannot be loaded, or whose response
is too long for it, still gets its embeddings; its model metrics are stored as empty (NULL) and
the reason is logged once per model.

Use it once (``pellucid monitor enrich --limit 1000``) or in a server::

    enricher = Enricher(store, settings, pool=models)
    enricher.start()          # a daemon thread: run_once() every `interval` seconds
    ...
    enricher.stop()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, PellucidError
from pellucid.monitor.background import PeriodicWorker
from pellucid.monitor.errors import RecordNotFoundError
from pellucid.monitor.records import StoredRecord
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder
    from pellucid.monitor.store import Store
    from pellucid.service import ModelPool

log = logging.getLogger(__name__)

#: The metric that marks a record as enriched, and the version of this enrichment.
MARKER = "enrich_version"
VERSION = 1.0
#: Metrics this worker writes.
ENRICH_METRICS = ("perplexity", "mean_entropy", "response_tokens", "flag_count", "toxicity", "pii_count")

Progress = Callable[[int, int], None]


@dataclass
class EnrichStats:
    """What one :meth:`Enricher.run_once` did."""

    records: int = 0
    embeddings: int = 0
    lm_scored: int = 0
    lm_skipped: int = 0
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "records_per_second": round(self.records_per_second, 2)}


class Enricher(PeriodicWorker):
    """Adds embeddings and model metrics to records that lack them (see the module docstring).

    Args:
        store: the monitoring store (``None`` for a worker that only calls :meth:`compute`).
        settings: where models are found (default: from the environment).
        pool: a :class:`~pellucid.service.ModelPool` to get serving models from (the server's).
        encoder: an already-loaded encoder (default: the bundled MiniLM, loaded on first use).
        lm: score every record with this model instead of each record's own.
        batch_size: records read, embedded and written together.
        interval: seconds between runs of the background thread.
        embeddings / lm_metrics / audit_flags: turn a part off (audit flags: the response's
            toxicity and the number of PII matches in prompt and response).
    """

    thread_name = "pellucid-enricher"

    def __init__(
        self,
        store: Store | None,
        settings: Settings | None = None,
        *,
        pool: ModelPool | None = None,
        encoder: Encoder | None = None,
        lm: LM | None = None,
        batch_size: int = 32,
        interval: float = 5.0,
        embeddings: bool = True,
        lm_metrics: bool = True,
        audit_flags: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        self.pool = pool
        self.encoder = encoder
        self.lm = lm
        self.batch_size = batch_size
        self.interval = interval
        self.embeddings = embeddings
        self.lm_metrics = lm_metrics
        self.audit_flags = audit_flags
        self._bad_models: dict[str, str] = {}
        super().__init__()

    # -- models ------------------------------------------------------------------------
    def _encoder(self) -> Encoder:
        if self.encoder is None:
            from pellucid import load_encoder

            self.encoder = load_encoder(settings=self.settings)
        return self.encoder

    def _lm_for(self, record: StoredRecord) -> LM | None:
        if self.lm is not None:
            return self.lm
        name = record.model or self.settings.default_model
        if name in self._bad_models:
            return None
        if self.pool is None:
            from pellucid.service import ModelPool

            self.pool = ModelPool(self.settings)
        try:
            return self.pool.get(name)
        except PellucidError as exc:
            self._bad_models[name] = str(exc)
            log.warning("enrichment: cannot load model %r for perplexity/entropy (%s); skipping them", name, exc)
            return None

    # -- one batch ---------------------------------------------------------------------
    def _lm_values(self, record: StoredRecord, stats: EnrichStats) -> dict[str, float | None]:
        from pellucid.monitor.enrich_lm import chat_flag, response_stats

        empty: dict[str, float | None] = {"perplexity": None, "mean_entropy": None, "response_tokens": None}
        if not self.lm_metrics or not record.response or record.error is not None:
            return empty
        lm = self._lm_for(record)
        if lm is None:
            stats.lm_skipped += 1
            return empty
        try:
            result = response_stats(lm, record.prompt, record.response, chat=chat_flag(record.params))
        except InvalidInputError as exc:  # too long for the context window, empty after tokenizing...
            log.info("enrichment: no model metrics for record %s: %s", record.id, exc)
            stats.lm_skipped += 1
            return empty
        except Exception:  # anything else must not wedge the queue on this record
            log.exception("enrichment: scoring record %s with %s failed; storing no model metrics", record.id, lm.name)
            stats.lm_skipped += 1
            return empty
        stats.lm_scored += 1
        return {
            "perplexity": result.perplexity,
            "mean_entropy": result.mean_entropy,
            "response_tokens": float(result.n_tokens),
        }

    def _embed(self, batch: list[StoredRecord]) -> list[tuple[str, str, str, Any]]:
        if not self.embeddings:
            return []
        encoder = self._encoder()
        texts = [r.prompt_text for r in batch]
        answered = [r for r in batch if r.response]
        vectors = encoder.embed(texts + [r.response or "" for r in answered])
        rows = [(r.id, "prompt", encoder.name, vectors[i]) for i, r in enumerate(batch)]
        rows += [(r.id, "response", encoder.name, vectors[len(batch) + i]) for i, r in enumerate(answered)]
        return rows

    def enrich_batch(self, batch: list[StoredRecord], stats: EnrichStats | None = None) -> EnrichStats:
        """Enrich these records now (embeddings, model metrics, flag counts, the marker)."""
        stats = stats or EnrichStats()
        vectors, values = self.compute(batch, stats)
        self.write(vectors, values)
        stats.records += len(batch)
        stats.embeddings += len(vectors)
        return stats

    def compute(
        self, batch: list[StoredRecord], stats: EnrichStats | None = None
    ) -> tuple[list[tuple[str, str, str, Any]], list[tuple[str, str, float | None]]]:
        """The enrichment of ``batch`` without touching the store: ``(vectors, values)`` for :meth:`write`.

        Needs no store, so a batch job's workers (:mod:`pellucid.batch.enrich_task`) can run it
        and leave the writing to the driver.
        """
        stats = stats or EnrichStats()
        vectors = self._embed(batch)
        audit = audit_values(batch) if self.audit_flags else {}
        values: list[tuple[str, str, float | None]] = []
        for record in batch:
            for name, value in {**self._lm_values(record, stats), **audit.get(record.id, {})}.items():
                values.append((record.id, name, value))
            values.append((record.id, "flag_count", float(len(record.flags))))
            values.append((record.id, MARKER, VERSION))
        return vectors, values

    def write(self, vectors: list[tuple[str, str, str, Any]], values: list[tuple[str, str, float | None]]) -> None:
        """Store what :meth:`compute` returned; records purged meanwhile are skipped."""
        try:
            self._write(vectors, values)
        except RecordNotFoundError:  # a record was purged meanwhile: write the others one by one
            for record_id in dict.fromkeys(v[0] for v in values):
                try:
                    self._write([v for v in vectors if v[0] == record_id], [v for v in values if v[0] == record_id])
                except RecordNotFoundError:
                    continue

    def _write(self, vectors: list[tuple[str, str, str, Any]], values: list[tuple[str, str, float | None]]) -> None:
        store = self._store()
        if vectors:
            store.repo.add_embeddings(vectors)
        # the marker goes last, so a crash in between leaves the record in the queue
        store.repo.add_metrics([v for v in values if v[1] != MARKER])
        store.repo.add_metrics([v for v in values if v[1] == MARKER])

    def _store(self) -> Store:
        if self.store is None:
            raise InvalidInputError("This Enricher has no store; give Enricher(store, ...) to read or write records.")
        return self.store

    def pending(self) -> int:
        """How many records wait for enrichment."""
        return self._store().analytics.count_missing(MARKER)

    def run_once(self, limit: int | None = None, *, progress: Progress | None = None) -> EnrichStats:
        """Enrich up to ``limit`` waiting records (all of them when ``None``), batch by batch."""
        if limit is not None and limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}.")
        started = time.perf_counter()
        stats = EnrichStats()
        total = self.pending() if progress is not None else 0
        total = min(total, limit) if limit is not None else total
        after: tuple[Any, str] | None = None
        while limit is None or stats.records < limit:
            size = self.batch_size if limit is None else min(self.batch_size, limit - stats.records)
            batch = self._store().analytics.records_missing(MARKER, limit=size, after=after)
            if not batch or self._stop.is_set():
                break
            after = (batch[-1].created_at, batch[-1].id)  # each record once per run, even if a write fails
            self.enrich_batch(batch, stats)
            if progress is not None:
                progress(stats.records, max(total, stats.records))
        stats.seconds = time.perf_counter() - started
        return stats

    # -- background thread (see PeriodicWorker) -----------------------------------------
    def run_round(self) -> None:
        """One background round: every waiting record, batch by batch."""
        stats = self.run_once()
        if stats.records:
            log.info("enriched %d records in %.1f s", stats.records, stats.seconds)


def audit_values(batch: list[StoredRecord]) -> dict[str, dict[str, float]]:
    """The audit checks' flags per record: ``toxicity`` of the response (the highest score of the
    lexicon and, when alt-profanity-check is installed, its classifier) and ``pii_count``, the
    personal-data matches in prompt and response (emails, phones, card numbers, IBANs, ...)."""
    from pellucid.audit.pii import find_pii
    from pellucid.audit.toxicity_check import default_classifiers, get_classifier

    responses = [r.response or "" for r in batch]
    toxicity = [0.0] * len(batch)
    for spec in default_classifiers():
        scores = get_classifier(spec).score(responses)
        toxicity = [max(a, float(b)) for a, b in zip(toxicity, scores)]
    pii = [len(find_pii(r.prompt_text or "")) + len(find_pii(r.response or "")) for r in batch]
    return {r.id: {"toxicity": tox, "pii_count": float(n)} for r, tox, n in zip(batch, toxicity, pii)}
