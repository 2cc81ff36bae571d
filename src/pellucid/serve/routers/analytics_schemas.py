"""What the analytics API answers: metric series, correlations, drift reports, alerts, evaluation
runs and the projection, one pydantic model per shape.

Each model follows the ``to_dict()`` of the monitoring type it describes (in
:mod:`pellucid.monitor`), key for key and in the same order; times are ISO 8601 strings with
``+00:00``, numbers that could not be computed are ``null``. The models only describe answers:
the routes in :mod:`pellucid.serve.routers.analytics` declare them as ``response_model``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pellucid.serve.schemas import Number


class SeriesPoint(BaseModel):
    """A metric aggregated over one time bucket (and one group, e.g. a model version)."""

    bucket_start: str
    group: str | None
    count: int
    mean: Number | None
    min: Number | None
    max: Number | None
    p50: Number | None = Field(None, description="The bucket's median (with percentiles=true).")
    p95: Number | None = Field(None, description="The bucket's 95th percentile (with percentiles=true).")


class WindowSummary(BaseModel):
    """A window at a glance: volume, errors, and the median and 95th percentile of latency and of
    time to first token (null when no record in the window has the value)."""

    records: int
    errors: int
    error_rate: Number | None
    latency_ms_p50: Number | None
    latency_ms_p95: Number | None
    ttft_ms_p50: Number | None
    ttft_ms_p95: Number | None


class FeedbackCorrelation(BaseModel):
    """How a per-record metric moves with human feedback (null: undefined for these data)."""

    metric: str
    n: int = Field(description="Pairs used: records with both a metric value and feedback.")
    n_dropped: int
    spearman: float | None
    spearman_p: float | None
    point_biserial: float | None
    point_biserial_p: float | None
    binary: bool
    verdict: str


class DriftResult(BaseModel):
    """One detector's answer for one feature."""

    detector: str
    feature: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    verdict: str
    details: dict[str, Any]


class DriftReport(BaseModel):
    """Every detector's result over one reference/current pair of windows."""

    drifted: bool
    verdict: str
    seconds: float
    params: dict[str, Any]
    results: list[DriftResult]


class DriftRun(DriftReport):
    """A drift report just computed; ``id`` and ``created_at`` are there when it was saved."""

    id: str | None = None
    created_at: str | None = None


class DriftReportInfo(BaseModel):
    """A saved drift report; listings leave ``report`` out."""

    id: str
    created_at: str
    name: str | None
    reference: str
    current: str
    drifted: bool
    verdict: str
    report: DriftReport | None = None


class AlertRule(BaseModel):
    """A stored alert rule with its last known state."""

    id: str
    name: str
    condition: str
    metric: str
    operator: str
    threshold: Number
    window_seconds: int
    action: str = Field(description="webhook, command or none.")
    target: str | None
    enabled: bool
    repeat_seconds: int | None
    state: str
    last_value: Number | None
    last_checked_at: str | None
    last_fired_at: str | None
    created_at: str


class AlertEvent(BaseModel):
    """One firing of a rule and what happened to its notification."""

    id: str
    rule_id: str | None
    rule_name: str
    fired_at: str
    value: Number | None
    message: str
    delivery_status: str
    delivery_detail: str | None


class RuleCheck(BaseModel):
    """The outcome of checking one rule now."""

    rule: str
    condition: str
    value: Number | None
    n: int
    holds: bool
    fired: bool
    state: str
    message: str
    event: AlertEvent | None
    dry_run: bool = Field(False, description="Measured only: `fired` says whether it would have fired.")


class EvalExample(BaseModel):
    """One scored example of an evaluation run."""

    idx: int
    line: int | None
    prompt: Any
    reference: Any
    prediction: str | None
    scores: dict[str, Number | None]


class EvalRun(BaseModel):
    """A stored evaluation run; ``examples`` only when asked for."""

    id: str
    name: str
    created_at: str
    model: str | None
    model_version: str | None
    prompt_version: str | None
    dataset_path: str | None
    metrics: list[str]
    results: dict[str, Any] = Field(description="Metric name to its aggregate and provenance.")
    n_examples: int
    n_skipped: int
    params: dict[str, Any]
    examples: list[EvalExample] | None = None


class MetricComparison(BaseModel):
    """One metric in two runs: both aggregates, B − A, which is better, paired wins of B."""

    metric: str
    a: Number | None
    b: Number | None
    diff: Number | None
    better: str | None = Field(description="a, b, same, or null when not comparable.")
    wins: int | None
    losses: int | None
    ties: int | None


class EvalComparison(BaseModel):
    """Two runs side by side."""

    a: EvalRun
    b: EvalRun
    metrics: list[MetricComparison]


class ProjectionPoint(BaseModel):
    """One record in 2-D, with what the projector colours by (model, flags, metrics...)."""

    model_config = ConfigDict(extra="allow")

    id: str
    x: float
    y: float
    cluster: int | None
    text: str | None = None
    model: str | None = None
    model_version: str | None = None
    flags: list[str] | None = None
    metrics: dict[str, Number | None] | None = None


class Projection(BaseModel):
    """2-D points of stored embeddings, and how they were made (explained variance...)."""

    model_config = ConfigDict(extra="allow")

    method: str
    field: str
    points: list[ProjectionPoint]


class MetricHistogram(BaseModel):
    """One metric in both windows, counted on shared bin edges (len(edges) = bins + 1)."""

    metric: str
    edges: list[float]
    reference: list[int]
    current: list[int]
    reference_n: int
    current_n: int


class DriftDistributions(BaseModel):
    """The windows of a drift comparison as overlaid histograms, per scalar metric."""

    reference: str = Field(description="The reference window as compared (cut to exclude the current one).")
    current: str
    metrics: list[MetricHistogram]
    skipped: dict[str, str] = Field(description="Metrics without values in a window, with the reason.")
