"""Plain data for the analytics tables: evaluation runs, alert rules and events, drift reports.

What :mod:`~pellucid.monitor.repository_analytics` returns; no SQL and no I/O here. Every type has
``to_dict()`` giving its JSON form (times as ISO 8601 with ``+00:00``), shared by ``--json`` and
the REST API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class EvalExampleResult:
    """One scored example of a run: its inputs, the prediction and ``{metric: value}``."""

    idx: int
    line: int | None
    prompt: Any
    reference: Any
    prediction: str | None
    scores: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EvalRunInfo:
    """A stored evaluation run. ``results`` maps metric name to its aggregate and provenance."""

    id: str
    name: str
    created_at: datetime
    model: str | None
    model_version: str | None
    prompt_version: str | None
    dataset_path: str | None
    metrics: list[str]
    results: dict[str, Any]
    n_examples: int
    n_skipped: int
    params: dict[str, Any] = field(default_factory=dict)
    examples: tuple[EvalExampleResult, ...] = ()

    def aggregate(self, metric: str) -> float | None:
        """The aggregate value of ``metric`` in this run (``None`` if not computed)."""
        entry = self.results.get(metric)
        return None if entry is None else entry.get("aggregate")

    def to_dict(self, *, with_examples: bool = True) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "examples"}
        data["created_at"] = _iso(self.created_at)
        if with_examples:
            data["examples"] = [e.to_dict() for e in self.examples]
        return data


@dataclass(frozen=True)
class AlertRuleInfo:
    """A stored alert rule with its last known state."""

    id: str
    name: str
    condition: str
    metric: str
    operator: str
    threshold: float
    window_seconds: int
    action: str
    target: str | None
    enabled: bool
    repeat_seconds: int | None
    state: str
    last_value: float | None
    last_checked_at: datetime | None
    last_fired_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("last_checked_at", "last_fired_at", "created_at"):
            data[key] = _iso(data[key])
        return data


@dataclass(frozen=True)
class AlertEventInfo:
    """One firing of a rule and what happened to its notification."""

    id: str
    rule_id: str | None
    rule_name: str
    fired_at: datetime
    value: float | None
    message: str
    delivery_status: str
    delivery_detail: str | None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["fired_at"] = _iso(self.fired_at)
        return data


def _saved_report_dict(info: Any, with_report: bool) -> dict[str, Any]:
    """A saved report's row as JSON: ``created_at`` in ISO form, ``report`` left out on request."""
    data = dict(info.__dict__)
    data["created_at"] = _iso(info.created_at)
    if not with_report:
        data.pop("report")
    return data


@dataclass(frozen=True)
class DriftReportInfo:
    """A saved drift report; ``report`` is :meth:`DriftReport.to_dict` plus the window details."""

    id: str
    created_at: datetime
    name: str | None
    reference: str
    current: str
    drifted: bool
    verdict: str
    report: dict[str, Any]

    def to_dict(self, *, with_report: bool = True) -> dict[str, Any]:
        return _saved_report_dict(self, with_report)


@dataclass(frozen=True)
class AuditReportInfo:
    """A stored audit report; ``report`` is :meth:`pellucid.audit.AuditReport.to_dict`."""

    id: str
    created_at: datetime
    model: str
    model_version: str | None
    checks: list[str]
    summary: dict[str, int]
    report: dict[str, Any]

    def to_dict(self, *, with_report: bool = True) -> dict[str, Any]:
        return _saved_report_dict(self, with_report)
