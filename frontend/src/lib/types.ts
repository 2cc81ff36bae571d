// The shapes the server answers. Explanation is THE interface of every heat map.

export type Score = number | null;
export type Scores = Score | Scores[];

export interface Explanation {
  kind: string;
  method: string;
  model: string;
  axes: string[];
  labels: Record<string, string[]>;
  scores: Scores[];
  signed: boolean;
  params: Record<string, unknown>;
  meta: Record<string, unknown>;
}

export interface ParamSpec {
  name: string;
  type: string; // str, int, float, bool, int_list, str_list
  default: unknown;
  help: string;
  choices: unknown[] | null;
  min: number | null;
  max: number | null;
  required?: boolean;
  widget?: string | null; // text (textarea), lines (one item per line)
}

export interface MethodSpec {
  name: string;
  description: string;
  params: ParamSpec[];
  signed?: boolean;
  kind?: string;
}

export interface Generation {
  model: string;
  prompt: string;
  text: string;
  tokens: string[];
  logprobs: number[];
  finish_reason: string;
}

export interface TokenScores {
  tokens: string[];
  logprobs: number[];
  total: number;
}

export interface FeedbackEntry {
  id: string;
  kind: string;
  value: number | null;
  comment: string | null;
  created_at: string;
}

export interface RecordItem {
  id: string;
  created_at: string;
  prompt: unknown;
  prompt_text: string;
  response: string | null;
  model: string | null;
  model_version: string | null;
  latency_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  tags: string[];
  flags: Record<string, string>;
  feedback: FeedbackEntry[];
  metrics?: Record<string, number>;
  error: string | null;
  user_id: string | null;
  session_id: string | null;
}

export interface RecordPage {
  items: RecordItem[];
  next_cursor: string | null;
  total: number | null;
}

export interface SeriesPoint {
  bucket_start: string;
  group: string | null;
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

export interface DriftResult {
  detector: string;
  feature: string;
  statistic: number | null;
  p_value: number | null;
  threshold: number | null;
  drifted: boolean;
  verdict: string;
}

export interface DriftReportInfo {
  id: string;
  created_at: string;
  name: string | null;
  reference: string;
  current: string;
  drifted: boolean;
  verdict: string;
  report?: { results: DriftResult[]; seconds: number };
}

export interface AlertRule {
  id: string;
  name: string;
  condition: string;
  action: string;
  target: string | null;
  enabled: boolean;
  last_checked_at: string | null;
  last_fired_at: string | null;
  [key: string]: unknown;
}

export interface AlertEvent {
  id: string;
  rule_name: string;
  fired_at: string;
  value: number | null;
  message: string;
  delivery_status: string;
}

export interface ProjectionPoint {
  id: string;
  x: number;
  y: number;
  cluster: number | null;
  text?: string;
  model?: string | null;
  model_version?: string | null;
  flags?: string[];
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

export interface Projection {
  method: string;
  field: string;
  points: ProjectionPoint[];
  [key: string]: unknown;
}

export interface Health {
  status: string;
  version: string;
  default_model: string;
  loaded_models: string[];
}

export interface AuditCheckSpec {
  name: string;
  description: string;
  needs: string[];
  available: boolean;
  unavailable_reason: string | null;
  params: ParamSpec[];
}

export interface AuditChecks {
  checks: AuditCheckSpec[];
  suites: Record<string, string[]>;
}

export interface CheckResult {
  check: string;
  status: "pass" | "fail" | "error";
  score: number | null;
  threshold: number | null;
  higher_is_worse: boolean;
  description: string;
  metrics: Record<string, unknown>;
  findings: Record<string, unknown>[];
  limits: string[];
  seconds: number;
  error: string | null;
}

export interface AuditReport {
  model: string;
  model_version: string | null;
  created: string;
  seconds: number;
  summary: Record<string, number>;
  checks: CheckResult[];
}

export interface JobProgress {
  done: number;
  total: number;
  current: string | null;
  current_done: number;
  current_total: number;
  fraction: number;
}

export interface AuditJob {
  id: string;
  kind: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  params: { model: string; checks: string[]; options: Record<string, Record<string, unknown>> };
  created_at: string;
  seconds: number | null;
  cancel_requested: boolean;
  progress: JobProgress;
  steps: { check: string; status: string; score: number | null; seconds: number; error: string | null }[];
  error: string | null;
  report?: AuditReport | null;
  /** kept in the monitoring store from an earlier run of the server */
  stored?: boolean;
}

export interface GeneratorSpec {
  name: string;
  description: string;
  needs: string[];
  params: ParamSpec[];
}

export interface WordDiffOp {
  op: "equal" | "replace" | "delete" | "insert";
  old: string[];
  new: string[];
}

export interface CounterfactualVariant {
  prompt: string;
  answer: string;
  target_logprob: number;
  foil_logprob: number | null;
  edit: { text: string; generator: string; label: string } | null;
  delta_logprob: number;
  delta_contrast: number | null;
  exact_match: boolean;
  token_edit_distance: number;
  diff: WordDiffOp[];
}

export interface CounterfactualResult {
  model: string;
  target: string;
  target_is_answer: boolean;
  original: CounterfactualVariant;
  variants: CounterfactualVariant[];
  truncated: boolean;
}
