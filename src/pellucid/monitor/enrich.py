"""Enrichment in the store: the queue of records waiting for it, and writing what was computed.

The gateway logs a call in microseconds; embeddings and model statistics take milliseconds per
record, so they are added later, in batches, by the enrichment worker
(:class:`pellucid.service.enrichment.Enricher`), which owns the models. This module is the
store's half, and needs no model:

- the **queue**: a record is done when it has the marker metric ``enrich_version``; the queue
  is "records without it", oldest first (:func:`waiting_records`, :func:`pending`), so the work
  survives restarts and several workers only repeat a batch at worst (writes are upserts);
- the **rows** a batch produces: the model-derived values computed above this package come in
  as plain numbers, and :func:`metric_rows` adds the plain facts (``flag_count``) and the marker;
- the **flags** some values raise, for the prompt and the response separately
  (:data:`VALUE_FLAGS`: a toxic prompt, personal data in the response...), so the records table
  can filter on them like on the data-quality flags;
- **writing** them (:func:`write_enrichment`): vectors, then values and flags, the marker last,
  so a crash in between leaves the record in the queue; records purged meanwhile are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.errors import RecordNotFoundError
from pellucid.monitor.records import StoredRecord

if TYPE_CHECKING:
    from pellucid.monitor.store import Store

#: The metric that marks a record as enriched, and the version of this enrichment.
MARKER = "enrich_version"
VERSION = 1.0
#: Metrics the enrichment writes.
ENRICH_METRICS = (
    "perplexity",
    "mean_entropy",
    "response_tokens",
    "flag_count",
    "toxicity",
    "prompt_toxicity",
    "pii_count",
    "prompt_pii_count",
    "response_pii_count",
)
#: Flags raised by enrichment values: flag -> (metric, the value from which it is raised, what it means).
#: ``toxicity`` is the response's (the name drift and alerts have always read).
VALUE_FLAGS: dict[str, tuple[str, float, str]] = {
    "toxic_prompt": ("prompt_toxicity", 0.5, "prompt toxicity"),
    "toxic_response": ("toxicity", 0.5, "response toxicity"),
    "pii_in_prompt": ("prompt_pii_count", 1.0, "personal-data matches in the prompt"),
    "pii_in_response": ("response_pii_count", 1.0, "personal-data matches in the response"),
}

#: ``(record id, field, encoder name, vector)``: one row of the ``embeddings`` table.
VectorRow = tuple[str, str, str, Any]
#: ``(record id, metric, value)``: one row of the ``metrics`` table (``None`` is stored as NULL).
ValueRow = tuple[str, str, float | None]


@dataclass
class EnrichStats:
    """What one enrichment run did."""

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


def value_flags(values: Mapping[str, float | None]) -> dict[str, str]:
    """The flags ``values`` raise (:data:`VALUE_FLAGS`), each with its reason."""
    out = {}
    for flag, (metric, cutoff, what) in VALUE_FLAGS.items():
        value = values.get(metric)
        if value is not None and value >= cutoff:
            out[flag] = f"{what}: {value:g}" + (f" ≥ {cutoff:g}" if cutoff != 1.0 else "")
    return out


def metric_rows(record: StoredRecord, values: Mapping[str, float | None]) -> list[ValueRow]:
    """The metric rows of one enriched record: ``values`` computed for it (model metrics, audit
    flags), its ``flag_count`` (how many flags it carries, with those ``values`` raise), and the
    marker last."""
    rows: list[ValueRow] = [(record.id, name, value) for name, value in values.items()]
    rows.append((record.id, "flag_count", float(len({**record.flags, **value_flags(values)}))))
    rows.append((record.id, MARKER, VERSION))
    return rows


def pending(store: Store) -> int:
    """How many records wait for enrichment."""
    return store.analytics.count_missing(MARKER)


def waiting_records(store: Store, limit: int, *, after: tuple[Any, str] | None = None) -> list[StoredRecord]:
    """Up to ``limit`` records waiting for enrichment, oldest first, after ``(created_at, id)``."""
    return store.analytics.records_missing(MARKER, limit=limit, after=after)


def all_waiting(store: Store, limit: int | None = None, *, page: int = 1000) -> list[StoredRecord]:
    """Every waiting record (at most ``limit``), read ``page`` at a time: the items of a batch job."""
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}.")
    records: list[StoredRecord] = []
    after: tuple[Any, str] | None = None
    while limit is None or len(records) < limit:
        size = page if limit is None else min(page, limit - len(records))
        batch = waiting_records(store, size, after=after)
        if not batch:
            break
        records += batch
        after = (batch[-1].created_at, batch[-1].id)
    return records


def write_enrichment(store: Store, vectors: list[VectorRow], values: list[ValueRow]) -> None:
    """Store a batch's vectors and values; records purged meanwhile are skipped."""
    try:
        _write(store, vectors, values)
    except RecordNotFoundError:  # a record was purged meanwhile: write the others one by one
        for record_id in dict.fromkeys(v[0] for v in values):
            try:
                _write(store, [v for v in vectors if v[0] == record_id], [v for v in values if v[0] == record_id])
            except RecordNotFoundError:
                continue


def _write(store: Store, vectors: list[VectorRow], values: list[ValueRow]) -> None:
    if vectors:
        store.repo.add_embeddings(vectors)
    per_record: dict[str, dict[str, float | None]] = {}
    for record_id, name, value in values:
        per_record.setdefault(record_id, {})[name] = value
    flags = {rid: f for rid, vals in per_record.items() if (f := value_flags(vals))}
    if flags:
        store.repo.add_flags(flags)
    # the marker goes last, so a crash in between leaves the record in the queue
    store.repo.add_metrics([v for v in values if v[1] != MARKER])
    store.repo.add_metrics([v for v in values if v[1] == MARKER])
