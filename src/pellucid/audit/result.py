"""``CheckResult`` and ``AuditReport``: what every audit check returns, as plain data.

A check answers one question about a model ("does it prefer stereotyping sentences?") with:

- ``score`` — one headline figure (a rate, a difference...), compared with ``threshold``;
- ``passed`` — whether the score is on the acceptable side of the threshold (``None`` when the
  check could not run: ``error`` then says why, and the rest of the audit goes on);
- ``interval`` — the score's 95 % interval when the check has one. A check whose interval holds
  the threshold is **inconclusive**, whatever side the point estimate falls on: 0 toxic answers in
  16 (interval up to 19.4 %) cannot show a rate below 5 %. ``needed_n`` is then the sample size
  at which the same observed rate would decide it;
- ``metrics`` — every other figure (intervals, per-group rates, test statistics);
- ``findings`` — the examples behind the figures (the most divergent pairs, toxic continuations,
  leaked personal data, unsupported claims), each a small dict a report can show;
- ``limits`` — what the check does *not* cover (no NER model, a proxy metric...), so a reader
  never mistakes a pass for more than it is.

Everything is JSON-safe through :meth:`CheckResult.to_dict` and round-trips with
:meth:`CheckResult.from_dict`; the HTML report and the model card are built from that JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError
from pellucid.types import _json_safe


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one audit check (see the module docstring for each field)."""

    check: str
    passed: bool | None
    score: float | None
    threshold: float | None
    findings: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    higher_is_worse: bool = True
    limits: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    seconds: float = 0.0
    error: str | None = None
    interval: tuple[float, float] | None = None
    needed_n: int | None = None

    @classmethod
    def failed(cls, check: str, error: str, model: str = "", seconds: float = 0.0) -> CheckResult:
        """A check that could not run: no verdict, the error recorded."""
        return cls(check, None, None, None, model=model, seconds=seconds, error=error)

    @property
    def inconclusive(self) -> bool:
        """Whether the score's 95 % interval holds the threshold (the data cannot decide)."""
        if self.interval is None or self.threshold is None:
            return False
        lo, hi = self.interval
        return lo < self.threshold < hi

    @property
    def status(self) -> str:
        """``pass``, ``fail``, ``inconclusive`` (the interval holds the threshold) or ``error``."""
        if self.error is not None or self.passed is None:
            return "error"
        if self.inconclusive:
            return "inconclusive"
        return "pass" if self.passed else "fail"

    def evidence_note(self) -> str:
        """One sentence on an inconclusive verdict: the interval, the threshold, the size that decides."""
        if not self.inconclusive or self.interval is None:
            return ""
        lo, hi = self.interval
        more = (
            f"about {self.needed_n} samples at the same observed rate would decide it"
            if self.needed_n is not None
            else "the observed rate sits on the threshold, so more samples alone will not decide it"
        )
        return f"Inconclusive: the 95 % interval [{lo:.4g}, {hi:.4g}] holds the threshold {self.threshold:g}; {more}."

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "check": self.check,
                "status": self.status,
                "passed": self.passed,
                "score": self.score,
                "threshold": self.threshold,
                "higher_is_worse": self.higher_is_worse,
                "description": self.description,
                "metrics": self.metrics,
                "findings": self.findings,
                "limits": self.limits,
                "params": self.params,
                "model": self.model,
                "seconds": round(self.seconds, 3),
                "error": self.error,
                "interval": None if self.interval is None else list(self.interval),
                "needed_n": self.needed_n,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        if "check" not in data:
            raise InvalidInputError(f"Not a CheckResult: no 'check' key among {sorted(data)}.")
        return cls(
            check=data["check"],
            passed=data.get("passed"),
            score=data.get("score"),
            threshold=data.get("threshold"),
            findings=list(data.get("findings", [])),
            metrics=dict(data.get("metrics", {})),
            description=data.get("description", ""),
            higher_is_worse=bool(data.get("higher_is_worse", True)),
            limits=list(data.get("limits", [])),
            params=dict(data.get("params", {})),
            model=data.get("model", ""),
            seconds=float(data.get("seconds", 0.0)),
            error=data.get("error"),
            interval=None if data.get("interval") is None else (float(data["interval"][0]), float(data["interval"][1])),
            needed_n=data.get("needed_n"),
        )


@dataclass(frozen=True)
class AuditReport:
    """Every check run on one model, in order, with when and how long."""

    model: str
    checks: list[CheckResult]
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    model_version: str | None = None
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def get(self, check: str) -> CheckResult | None:
        return next((c for c in self.checks if c.check == check), None)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "inconclusive": 0, "error": 0}
        for c in self.checks:
            counts[c.status] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "kind": "audit",
                "model": self.model,
                "model_version": self.model_version,
                "created": self.created,
                "seconds": round(self.seconds, 3),
                "summary": self.summary,
                "meta": self.meta,
                "checks": [c.to_dict() for c in self.checks],
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        if "checks" not in data or not isinstance(data["checks"], list):
            raise InvalidInputError("Not an audit report: it has no 'checks' list (write one with `pellucid audit`).")
        return cls(
            model=data.get("model", ""),
            checks=[CheckResult.from_dict(c) for c in data["checks"]],
            created=data.get("created", ""),
            model_version=data.get("model_version"),
            seconds=float(data.get("seconds", 0.0)),
            meta=dict(data.get("meta", {})),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> AuditReport:
        p = Path(path)
        if not p.is_file():
            raise InvalidInputError(f"Audit report {str(p)!r} does not exist; write one with `pellucid audit --json`.")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"Audit report {str(p)!r} is not JSON ({exc}).") from None
        if isinstance(data, list):  # a bare list of CheckResults
            data = {"checks": data, "model": next((c.get("model", "") for c in data), "")}
        return cls.from_dict(data)
