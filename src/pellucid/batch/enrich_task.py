"""Enrichment of stored records as a batch job: workers compute, the driver writes to the store.

Items are ``{"row", "record"}`` with a :class:`~pellucid.monitor.records.StoredRecord`. Each worker
holds an :class:`~pellucid.service.enrichment.Enricher` with no store (MiniLM and, for model
metrics, the serving models load once per worker) and returns, per record, the vectors and values
that :func:`pellucid.monitor.enrich.write_enrichment` stores. The store itself is the job's memory:
a record is done once it has the ``enrich_version`` marker, so a job run again after a failure
picks up what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pellucid.batch.task import Task


@dataclass
class EnrichTask(Task):
    """Embeddings, model metrics and audit flags for a block of records."""

    embeddings: bool = True
    lm_metrics: bool = True
    audit_flags: bool = True

    name = "enrich"

    def parameters(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings, "lm_metrics": self.lm_metrics, "audit_flags": self.audit_flags}

    def setup(self) -> None:
        from pellucid.service import load_model
        from pellucid.service.enrichment import Enricher

        lm = None
        if self.model is not None and self.lm_metrics:
            lm = load_model(self.model, self.settings)
        self._enricher = Enricher(None, self.settings, lm=lm, embeddings=self.embeddings, lm_metrics=self.lm_metrics,
                                  audit_flags=self.audit_flags)  # fmt: skip

    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from pellucid.monitor.enrich import EnrichStats

        stats = EnrichStats()
        vectors, values = self._enricher.compute([i["record"] for i in items], stats)
        return [{"vectors": vectors, "values": values,
                 "records": len(items), "lm_scored": stats.lm_scored, "lm_skipped": stats.lm_skipped}]  # fmt: skip
