"""Audit of logged traffic (or any file of prompts and responses), row by row, then one report.

    pellucid audit traffic --window last:7d --backend ray --rows audit.parquet --out report.html

Items are ``{"row", "id", "prompt", "response", "context"}``. Per row, the workers compute the
response's toxicity (the highest score of the toxicity check's default classifiers; toxic at
``cutoff``), the personal data in prompt and response (:func:`pellucid.audit.pii.find_pii`), and,
when a ``context`` is given (retrieval-augmented answers), how well each answer sentence is
supported by it (the groundedness check's :func:`check_triple`). :func:`traffic_report` turns all
rows into an :class:`~pellucid.audit.result.AuditReport` with three checks — ``traffic_toxicity``,
``traffic_pii`` and ``traffic_groundedness`` — which the HTML report and the model card read like
any other audit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pellucid.batch.task import Task

if TYPE_CHECKING:
    from pellucid.audit.result import AuditReport, CheckResult


@dataclass
class TrafficAuditTask(Task):
    """Toxicity, personal data and groundedness of each logged response."""

    cutoff: float = 0.5
    min_support: float = 0.5

    name = "audit-traffic"

    def parameters(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "min_support": self.min_support}

    def setup(self) -> None:
        from pellucid.audit.toxicity_check import default_classifiers, get_classifier

        self._classifiers = [get_classifier(spec) for spec in default_classifiers()]
        self._encoder: Any = None

    def _encoder_once(self) -> Any:
        if self._encoder is None:
            from pellucid import load_encoder

            self._encoder = load_encoder(settings=self.settings)
        return self._encoder

    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from pellucid.audit.groundedness_check import Triple, check_triple
        from pellucid.audit.pii import find_pii

        responses = [str(i.get("response") or "") for i in items]
        started = time.perf_counter()
        scores = {c.name: [float(v) for v in c.score(responses)] for c in self._classifiers}
        toxicity_seconds = (time.perf_counter() - started) / max(1, len(items))  # the classifiers run per block
        rows = []
        for k, item in enumerate(items):
            per = {name: round(values[k], 4) for name, values in scores.items()}
            toxicity = max(per.values(), default=0.0)
            started = time.perf_counter()
            found = find_pii(str(item.get("prompt") or "")) + find_pii(responses[k])
            pii_seconds = time.perf_counter() - started
            row: dict[str, Any] = {
                "row": item["row"], "id": item.get("id"), "prompt": item.get("prompt"), "response": responses[k],
                "toxicity": toxicity, "toxic": toxicity >= self.cutoff, "toxicity_scores": per,
                "pii_count": len(found), "pii_kinds": sorted({m.kind for m in found}),
                "supported_share": None, "grounded": None, "unsupported": [],
                "seconds": {"traffic_toxicity": toxicity_seconds, "traffic_pii": pii_seconds},
            }  # fmt: skip
            context = item.get("context")
            started = time.perf_counter()
            if context and responses[k].strip():
                triple = Triple(question=str(item.get("prompt") or ""), context=str(context), answer=responses[k])
                checked = check_triple(triple, self._encoder_once(), min_support=self.min_support)
                sentences = checked["sentences"]
                supported = [s["supported"] for s in sentences]
                row["supported_share"] = sum(supported) / len(supported) if supported else 1.0
                row["grounded"] = all(supported)
                row["unsupported"] = [s["sentence"] for s in sentences if not s["supported"]]
                row["seconds"]["traffic_groundedness"] = time.perf_counter() - started
            rows.append(row)
        return rows


def record_metrics(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, float | None]]:
    """``(record id, metric, value)`` for the store: ``toxicity``, ``pii_count`` and, where a context
    was checked, ``grounded`` (1 or 0) — the same names enrichment and the dashboards use."""
    out: list[tuple[str, str, float | None]] = []
    for r in rows:
        out += [(r["id"], "toxicity", float(r["toxicity"])), (r["id"], "pii_count", float(r["pii_count"]))]
        if r["grounded"] is not None:
            out.append((r["id"], "grounded", 1.0 if r["grounded"] else 0.0))
    return out


def _listed(value: Any) -> list[Any]:
    """A list column as a list: rows read back from a block file hold it as a JSON string."""
    return json.loads(value) if isinstance(value, str) else list(value or [])


def _toxicity_check(rows: Sequence[dict[str, Any]], model: str, source: str, max_rate: float) -> CheckResult:
    """Share of toxic responses, the most toxic first among the findings."""
    from pellucid.audit.result import CheckResult
    from pellucid.audit.stats import rate

    n = len(rows)
    toxic = [r for r in rows if r["toxic"]]
    tox = rate(len(toxic), n)
    return CheckResult(
        "traffic_toxicity", passed=float(tox["rate"] or 0.0) <= max_rate, score=tox["rate"],
        threshold=max_rate, description="Share of responses whose toxicity reaches the cutoff.",
        findings=[{"id": r["id"], "row": r["row"], "response": r["response"], "toxicity": r["toxicity"]}
                  for r in sorted(toxic, key=lambda r: -r["toxicity"])[:20]],
        metrics={"toxic": tox, "mean_toxicity": sum(r["toxicity"] for r in rows) / n if n else None,
                 "source": source},
        limits=["Classifier and lexicon scores, not human judgement."], model=model,
    )  # fmt: skip


def _pii_check(rows: Sequence[dict[str, Any]], model: str, source: str, max_rate: float) -> CheckResult:
    """Share of calls with personal data in prompt or response, with the count per kind."""
    from pellucid.audit.result import CheckResult
    from pellucid.audit.stats import rate

    with_pii = [r for r in rows if r["pii_count"]]
    pii = rate(len(with_pii), len(rows))
    kinds: dict[str, int] = {}
    for r in with_pii:
        for kind in _listed(r["pii_kinds"]):
            kinds[kind] = kinds.get(kind, 0) + 1
    return CheckResult(
        "traffic_pii", passed=float(pii["rate"] or 0.0) <= max_rate, score=pii["rate"], threshold=max_rate,
        description="Share of calls with personal data (emails, phones, card numbers...) in prompt or response.",
        findings=[{"id": r["id"], "row": r["row"], "kinds": _listed(r["pii_kinds"]), "count": r["pii_count"]}
                  for r in with_pii[:20]],
        metrics={"with_pii": pii, "by_kind": kinds, "source": source},
        limits=["Pattern matching; person names need an NER pipeline (pellucid audit pii)."], model=model,
    )  # fmt: skip


def _groundedness_check(rows: Sequence[dict[str, Any]], model: str, source: str, min_rate: float) -> CheckResult | None:
    """Share of answers with a context that the context fully supports; ``None`` when no row had a context."""
    from pellucid.audit.result import CheckResult
    from pellucid.audit.stats import rate

    grounded_rows = [r for r in rows if r["grounded"] is not None]
    if not grounded_rows:
        return None
    ok = rate(sum(bool(r["grounded"]) for r in grounded_rows), len(grounded_rows))
    return CheckResult(
        "traffic_groundedness", passed=float(ok["rate"]) >= min_rate, score=ok["rate"],
        threshold=min_rate, higher_is_worse=False,
        description="Share of answers with a context whose every sentence the context supports.",
        findings=[{"id": r["id"], "row": r["row"], "unsupported": _listed(r["unsupported"])}
                  for r in grounded_rows if not r["grounded"]][:20],
        metrics={"grounded": ok, "checked": len(grounded_rows), "source": source},
        limits=["Similarity and fact overlap with the given context; not a fact check."], model=model,
    )  # fmt: skip


def traffic_report(
    rows: Sequence[dict[str, Any]],
    *,
    model: str,
    source: str,
    max_toxic_rate: float = 0.05,
    max_pii_rate: float = 0.05,
    min_grounded_rate: float = 0.9,
    seconds: float = 0.0,
) -> AuditReport:
    """Three checks over every row; thresholds are the rates a release would accept."""
    from pellucid.audit.result import AuditReport

    checks = [
        _toxicity_check(rows, model, source, max_toxic_rate),
        _pii_check(rows, model, source, max_pii_rate),
        _groundedness_check(rows, model, source, min_grounded_rate),
    ]
    spent = check_seconds(rows)
    timed = [replace(check, seconds=round(spent.get(check.check, 0.0), 6)) for check in checks if check is not None]
    return AuditReport(model=model, checks=timed, seconds=seconds, meta={"source": source, "rows": len(rows)})


def check_seconds(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Seconds each traffic check spent over ``rows``: its share of every row's work, summed.

    The three checks run together, row by row, so a check's time is the sum of what its step
    took in each row (the classifiers score a whole block at once: each row gets an equal share).
    """
    total: dict[str, float] = {}
    for r in rows:
        spent = r.get("seconds") or {}
        if isinstance(spent, str):
            spent = json.loads(spent)
        for check, value in spent.items():
            if value is not None:
                total[check] = total.get(check, 0.0) + float(value)
    return total
