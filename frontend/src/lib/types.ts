// The shapes the server answers, generated from its OpenAPI document (api-types.generated.ts,
// written by `python -m pellucid.serve.api_types`; scripts/build_frontend.sh regenerates it and
// fails when the committed file is stale). Explanation is THE interface of every heat map.

import type { AuditCheckResult, Scores } from "./api-types.generated";

export type {
  AlertEvent,
  AlertRule,
  AuditCheckSpec,
  AuditChecks,
  AuditJob,
  AuditReport,
  CounterfactualResult,
  CounterfactualVariant,
  DriftReportInfo,
  DriftResult,
  DriftRun,
  Explanation,
  FeedbackEntry,
  Generation,
  GeneratorSpec,
  Health,
  JobProgress,
  MethodSpec,
  ModelInfo,
  ParamSpec,
  Projection,
  ProjectionPoint,
  RecordItem,
  RecordPage,
  Scores,
  SeriesPoint,
  Serving,
  TokenScores,
  TraceDetail,
  TraceSpan,
  TraceSummary,
  VerbSpec,
  WordDiffOp,
} from "./api-types.generated";

/** One cell of a score grid: a number, or null where it was not computed. */
export type Score = Exclude<Scores, Scores[]>;

/** One audit check's outcome (the API's AuditCheckResult). */
export type CheckResult = AuditCheckResult;
