"""Enrichment: the slow, model-based facts about logged calls, computed after the fact.

The gateway logs a call in microseconds; embeddings and model statistics take milliseconds per
record, so a background worker adds them later, in batches. This module computes them with the
models; the store's half (the queue, the plain rows, writing with the marker last) is
:mod:`pellucid.monitor.enrich`, which never sees a model. Per record:

- MiniLM embeddings of the prompt and of the response (``embeddings`` table), encoded in
  batches by :meth:`pellucid.models.Encoder.embed` — what embedding drift, clustering and the
  projector read;
- ``perplexity`` and ``mean_entropy`` of the response under the serving model (the record's
  ``model``; for a call answered by an upstream in proxy mode, the local weights its model is
  mapped to with ``--local-weights``), teacher-forced over the logged prompt and response
  (:func:`response_stats`);
- ``response_tokens`` (the response's length in the serving model's tokens);
- the audit checks' values, for the prompt and the response separately (:func:`audit_values`):
  ``prompt_toxicity`` and ``toxicity`` (the response's), ``prompt_pii_count``,
  ``response_pii_count`` and their sum ``pii_count``; the store raises the matching flags
  (``toxic_prompt``, ``pii_in_response``...: :data:`pellucid.monitor.enrich.VALUE_FLAGS`);
- and, added by the store's half, ``flag_count`` and the marker ``enrich_version``.

A record whose model cannot be loaded, or whose response is too long for it, still gets its
embeddings; its model metrics are stored as empty (NULL) and the reason is logged once per model.

**Perplexity and entropy.** One teacher-forced forward pass over ``prompt + response``: the model
reads the logged prompt (with its chat template) and the logged response, and at each response
position we read its predicted distribution over the next token:

- perplexity = ``exp(−mean log p(actual token))``: how surprised the model is by the text it
  (supposedly) wrote. A greedy answer scores close to 1; a response from another model, a
  cached answer to a different prompt, or tampered text scores high;
- mean token entropy = mean over positions of ``−Σ p log p`` (nats): how unsure the model was at
  each step, whatever token was finally chosen. High entropy means the model was guessing.

Use it once (``pellucid monitor enrich --limit 1000``) or in a server::

    enricher = Enricher(store, settings, pool=models)
    enricher.start()          # a daemon thread: run_once() every `interval` seconds
    ...
    enricher.stop()
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, PellucidError
from pellucid.monitor import enrich as queue
from pellucid.monitor.background import PeriodicWorker
from pellucid.monitor.enrich import EnrichStats, ValueRow, VectorRow
from pellucid.monitor.records import StoredRecord
from pellucid.service.pool import ModelPool
from pellucid.service.records import chat_flag, proxied_weights
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder
    from pellucid.monitor.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ResponseStats:
    """Teacher-forced statistics of one response under one model."""

    perplexity: float
    mean_entropy: float
    n_tokens: int


def response_stats(lm: LM, prompt: Any, response: str, *, chat: bool | None = None) -> ResponseStats:
    """Perplexity and mean entropy of ``response`` after ``prompt`` (text or chat messages)."""
    import torch

    enc = lm.encode(prompt, chat=chat)
    target = lm.encode_target(response)
    lm.check_length(len(enc) + len(target), "logged prompt plus response")
    ids = torch.tensor([enc.ids + target[:-1]], dtype=torch.long, device=lm.device)
    with torch.no_grad():
        logits = lm.forward(ids, logits_to_keep=len(target)).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    chosen = logp[torch.arange(len(target)), torch.tensor(target, device=logp.device)]
    entropy = -(logp.exp() * logp).sum(-1)
    return ResponseStats(
        perplexity=math.exp(-float(chosen.mean())),
        mean_entropy=float(entropy.mean()),
        n_tokens=len(target),
    )


def _toxicity(texts: list[str]) -> list[float]:
    """The highest score of the default classifiers (the lexicon and, when alt-profanity-check is
    installed, its classifier) per text."""
    from pellucid.audit.toxicity_check import default_classifiers, get_classifier

    scores = [0.0] * len(texts)
    for spec in default_classifiers():
        scores = [max(a, float(b)) for a, b in zip(scores, get_classifier(spec).score(texts))]
    return scores


def audit_values(batch: list[StoredRecord]) -> dict[str, dict[str, float]]:
    """The audit checks' values per record, for the prompt and the response separately: toxicity
    (``prompt_toxicity``, and ``toxicity`` for the response) and personal-data matches (emails,
    phones, card numbers, IBANs...: ``prompt_pii_count``, ``response_pii_count`` and the sum
    ``pii_count``). A rude prompt with a polite answer is then flagged too."""
    from pellucid.audit.pii import find_pii

    prompts = [r.prompt_text or "" for r in batch]
    responses = [r.response or "" for r in batch]
    prompt_tox, response_tox = _toxicity(prompts), _toxicity(responses)
    out = {}
    for i, r in enumerate(batch):
        in_prompt, in_response = len(find_pii(prompts[i])), len(find_pii(responses[i]))
        out[r.id] = {
            "toxicity": response_tox[i],
            "prompt_toxicity": prompt_tox[i],
            "pii_count": float(in_prompt + in_response),
            "prompt_pii_count": float(in_prompt),
            "response_pii_count": float(in_response),
        }
    return out


class Enricher(PeriodicWorker):
    """Adds embeddings and model metrics to records that lack them (see the module docstring).

    Args:
        store: the monitoring store (``None`` for a worker that only calls :meth:`compute`).
        settings: where models are found (default: from the environment).
        pool: a :class:`~pellucid.service.ModelPool` to get serving models and the encoder from
            (the server's; default: a pool of its own, made on first use).
        encoder: an already-loaded encoder (default: the pool's MiniLM, loaded on first use).
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
    def _pool(self) -> ModelPool:
        if self.pool is None:
            self.pool = ModelPool(self.settings)
        return self.pool

    def _encoder(self) -> Encoder:
        if self.encoder is None:
            self.encoder = self._pool().encoder()
        return self.encoder

    def _lm_for(self, record: StoredRecord) -> LM | None:
        """The model that answered ``record``: its own, or for a proxied call the mapped local weights.

        A model that cannot be loaded, or a proxied one mapped to no weights, is skipped with one
        warning per name saying why (for the latter: the setting to add).
        """
        if self.lm is not None:
            return self.lm
        name = record.model or self.settings.default_model
        if name in self._bad_models:
            return None
        try:
            weights = proxied_weights(record, self._pool())
            pool = getattr(self._pool(), "inner", self._pool()) if weights else self._pool()  # operator-configured
            return pool.get(weights or name)
        except PellucidError as exc:
            self._bad_models[name] = str(exc)
            log.warning("enrichment: no perplexity/entropy for model %r: %s", name, exc)
            return None

    # -- one batch ---------------------------------------------------------------------
    def _lm_values(self, record: StoredRecord, stats: EnrichStats) -> dict[str, float | None]:
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

    def _embed(self, batch: list[StoredRecord]) -> list[VectorRow]:
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
    ) -> tuple[list[VectorRow], list[ValueRow]]:
        """The enrichment of ``batch`` without touching the store: ``(vectors, values)`` for :meth:`write`.

        Needs no store, so a batch job's workers (:mod:`pellucid.batch.enrich_task`) can run it
        and leave the writing to the driver.
        """
        stats = stats or EnrichStats()
        vectors = self._embed(batch)
        audit = audit_values(batch) if self.audit_flags else {}
        values: list[ValueRow] = []
        for record in batch:
            values += queue.metric_rows(record, {**self._lm_values(record, stats), **audit.get(record.id, {})})
        return vectors, values

    def write(self, vectors: list[VectorRow], values: list[ValueRow]) -> None:
        """Store what :meth:`compute` returned; records purged meanwhile are skipped."""
        queue.write_enrichment(self._store(), vectors, values)

    def _store(self) -> Store:
        if self.store is None:
            raise InvalidInputError("This Enricher has no store; give Enricher(store, ...) to read or write records.")
        return self.store

    def pending(self) -> int:
        """How many records wait for enrichment."""
        return queue.pending(self._store())

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
            batch = queue.waiting_records(self._store(), size, after=after)
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
