// Generated from Pellucid's OpenAPI document by `python -m pellucid.serve.api_types`.
// Do not edit: change the pydantic response models in src/pellucid/serve and regenerate
// (scripts/build_frontend.sh does it before every build).

/** Change in p(target) when each component is ablated. */
export interface AblateRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Next token whose probability is measured, e.g. ' Paris'. */
  target?: string;
  /** Components ablated. */
  what?: "heads" | "attn" | "mlp" | "layers" | "neurons";
  /** Replace with zeros or the mean activation. */
  how?: "zero" | "mean";
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Heads, e.g. '0,3' (default: all). */
  heads?: number[] | null;
  /** For what=neurons: layer.index, e.g. 3.512 (repeatable). */
  neurons?: string[] | null;
  /** Ablate all chosen components at once. */
  joint?: boolean;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

export interface AggregateRequest {
  explanations: RowAttribution[];
  top?: number | null;
}

/** One firing of a rule and what happened to its notification. */
export interface AlertEvent {
  id: string;
  rule_id: string | null;
  rule_name: string;
  fired_at: string;
  value: number | null;
  message: string;
  delivery_status: string;
  delivery_detail: string | null;
}

/** A stored alert rule with its last known state. */
export interface AlertRule {
  id: string;
  name: string;
  condition: string;
  metric: string;
  operator: string;
  threshold: number;
  window_seconds: number;
  /** webhook, command or none. */
  action: string;
  target: string | null;
  enabled: boolean;
  repeat_seconds: number | null;
  state: string;
  last_value: number | null;
  last_checked_at: string | null;
  last_fired_at: string | null;
  created_at: string;
}

export interface AlertRuleRequest {
  name: string;
  /** e.g. 'mean(latency_ms) > 500 over 1h' */
  condition: string;
  action?: "webhook" | "command" | "none";
  /** Webhook URL or shell command. */
  target?: string | null;
  enabled?: boolean;
  repeat_seconds?: number | null;
}

export interface AlertRuleUpdate {
  enabled: boolean;
}

export interface AssistantMessage {
  role: "assistant";
  content: string;
}

/** Attention weights of each head: head × query × key. */
export interface AttentionRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Heads, e.g. '0,3' (default: all). */
  heads?: number[] | null;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/** Patching estimated from one backward pass (fast; compare with the exact sweep). */
export interface AttributionPatchRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  clean?: string;
  corrupted?: string;
  /** Next token, e.g. ' Paris' (mind the space). */
  target?: string;
  /** Competing token, e.g. ' Rome' (the metric becomes the logit difference). */
  foil?: string | null;
  /** Activation patched; heads gives layer × head. */
  site?: "resid_pre" | "resid_post" | "attn.out" | "mlp.out" | "heads";
  /** Default: logit_diff with a foil, else prob. */
  metric?: "logit_diff" | "prob" | "logprob" | null;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Positions, e.g. '0-5' (default: all). */
  positions?: number[] | null;
  /** Pad the shorter prompt where the two differ. */
  align?: boolean;
  /** Also run exact patching and report the agreement. */
  compare?: boolean;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/**
 * The outcome of one audit check (``status``: pass, fail, inconclusive or error).
 *
 * ``interval`` is the score's 95 % interval when the check has one; a check whose interval
 * holds the threshold is inconclusive, and ``needed_n`` is the sample size that would decide it.
 */
export interface AuditCheckResult {
  check: string;
  status: "pass" | "fail" | "inconclusive" | "error";
  passed: boolean | null;
  score: number | null;
  threshold: number | null;
  higher_is_worse: boolean;
  description: string;
  metrics: Record<string, unknown>;
  findings: (Record<string, unknown>)[];
  limits: string[];
  params: Record<string, unknown>;
  model: string;
  seconds: number;
  error: string | null;
  interval?: number[] | null;
  needed_n?: number | null;
}

/** An audit check: what it measures, what it needs, whether a request can run it, its options. */
export interface AuditCheckSpec {
  name: string;
  description: string;
  needs: string[];
  available: boolean;
  unavailable_reason: string | null;
  params: ParamSpec[];
}

/** Every check, and the named suites (suite name to its checks). */
export interface AuditChecks {
  checks: AuditCheckSpec[];
  suites: Record<string, string[]>;
}

/**
 * An audit job's status and progress; ``report`` once done (left out of listings).
 *
 * ``stored`` is true for an audit read back from the monitoring store (kept from an earlier
 * run of the server).
 */
export interface AuditJob {
  id: string;
  kind: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  stored?: boolean | null;
  params: AuditJobParams;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  seconds: number | null;
  cancel_requested: boolean;
  progress: JobProgress;
  steps: AuditStep[];
  error: string | null;
  report?: AuditReport | null;
}

/** What the audit was asked: the model, the checks and their options. */
export interface AuditJobParams {
  model: string;
  checks: string[];
  options: Record<string, Record<string, unknown>>;
}

/** An audit to run: which checks, on which model, with which options. */
export interface AuditJobRequest {
  /** Model to audit (default: the server's model). */
  model?: string | null;
  /** Checks to run, in order. */
  checks?: string[] | null;
  /** Or a suite: default, all, or 'bias,pii'. */
  suite?: string | null;
  /** Options per check, e.g. {'toxicity': {'limit': 20}}. */
  options?: Record<string, Record<string, unknown>>;
}

/** Every check run on one model, in order; ``summary`` counts pass, fail, inconclusive and error. */
export interface AuditReport {
  kind: string;
  model: string;
  model_version: string | null;
  created: string;
  seconds: number;
  summary: Record<string, number>;
  meta: Record<string, unknown>;
  checks: AuditCheckResult[];
}

/** A summary of one finished check. */
export interface AuditStep {
  check: string;
  status: string;
  score: number | null;
  threshold: number | null;
  seconds: number | null;
  error: string | null;
}

/** Characters ``start:end`` of the original (``old``) were replaced by ``new``. */
export interface Change {
  start: number;
  end: number;
  old: string;
  new: string;
  kind: string;
}

export interface ChatChoice {
  index: number;
  message: AssistantMessage;
  logprobs: null;
  finish_reason: string | null;
}

/** A chat completion (``stream: false``); streamed, the same arrives as chunks. */
export interface ChatCompletion {
  id: string;
  object: string;
  created: number;
  model: string;
  system_fingerprint: string | null;
  choices: ChatChoice[];
  usage: Usage;
  pellucid: PellucidInfo;
}

export interface ChatCompletionRequest {
  /** Default: the server's model. */
  model?: string | null;
  temperature?: number;
  top_p?: number;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** Sampling seed (torch's range). */
  seed?: number | null;
  stop?: string | string[] | null;
  /** Only one choice per call. */
  n?: number;
  stream?: boolean;
  stream_options?: StreamOptions | null;
  user?: string | null;
  metadata?: Record<string, unknown> | null;
  /** Pellucid: answer from the exact-match cache when possible. */
  cache?: boolean | null;
  messages: ChatMessage[];
  [key: string]: unknown;
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant";
  /** Text, or a list of text parts. */
  content: string | (Record<string, unknown>)[];
  name?: string | null;
}

/** A text completion (``stream: false``). */
export interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  system_fingerprint: string | null;
  choices: CompletionChoice[];
  usage: Usage;
  pellucid: PellucidInfo;
}

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: null;
  finish_reason: string | null;
}

export interface CompletionRequest {
  /** Default: the server's model. */
  model?: string | null;
  temperature?: number;
  top_p?: number;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** Sampling seed (torch's range). */
  seed?: number | null;
  stop?: string | string[] | null;
  /** Only one choice per call. */
  n?: number;
  stream?: boolean;
  stream_options?: StreamOptions | null;
  user?: string | null;
  metadata?: Record<string, unknown> | null;
  /** Pellucid: answer from the exact-match cache when possible. */
  cache?: boolean | null;
  /** One prompt (a list of exactly one string is accepted). */
  prompt: string | string[];
  [key: string]: unknown;
}

/** An original prompt and an edited version of it (given, or made by a generator). */
export interface CounterfactualRequest {
  /** The original prompt. */
  prompt: string;
  /** The edited prompt. */
  edited?: string | null;
  /** Or a generator that makes the edits. */
  generator?: string | null;
  /** See GET /api/counterfactuals/generators. */
  generator_params?: Record<string, unknown>;
  /** Text scored after each prompt (default: the model's original answer). */
  target?: string | null;
  /** Contrast text: also report log p(target) − log p(foil). */
  foil?: string | null;
  model?: string | null;
  raw?: boolean;
  system?: string | null;
  max_new_tokens?: number;
  seed?: number;
}

/** The original prompt and every edited variant, answered and scored. */
export interface CounterfactualResult {
  kind: string;
  model: string;
  target: string;
  target_is_answer: boolean;
  foil: string | null;
  original: CounterfactualVariant;
  variants: CounterfactualVariant[];
  /** Replacement patterns that matched nothing. */
  unmatched: string[];
  params: Record<string, unknown>;
  /** Whether the generator made more edits than were scored. */
  truncated: boolean;
}

/** One prompt with the model's answer and the target's log-probability after it. */
export interface CounterfactualVariant {
  prompt: string;
  answer: string;
  target_logprob: number;
  foil_logprob: number | null;
  edit: EditInfo | null;
  /** Edited − original (0 for the original). */
  delta_logprob: number;
  delta_contrast: number | null;
  exact_match: boolean;
  token_edit_distance: number;
  similarity: number | null;
  diff: WordDiffOp[];
}

/** A served dictionary (``error`` instead of the rest when its folder cannot be read). */
export interface DictionaryInfo {
  /** The folder's name: how URLs and stored features name it. */
  name: string;
  folder: string;
  model?: string | null;
  site?: string | null;
  architecture?: string | null;
  latents?: number | null;
  k?: number | null;
  /** fve, l0, dead_fraction, ce_recovered... */
  metrics?: Record<string, number>;
  error?: string | null;
}

/** Who writes the answer directly: per-layer (or per-head) shares of the target's logit. */
export interface DirectLogitRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Next token, e.g. ' Paris' (mind the space). */
  target?: string;
  /** Competing token, e.g. ' Rome' (the metric becomes the logit difference). */
  foil?: string | null;
  /** layer: attention and MLP per layer; head: each head. */
  by?: "layer" | "head";
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

export interface Distribution {
  top: NextToken[];
  /** The target's logit minus the mean logit. */
  target_value: number;
  target_probability: number;
}

/** The windows of a drift comparison as overlaid histograms, per scalar metric. */
export interface DriftDistributions {
  /** The reference window as compared (cut to exclude the current one). */
  reference: string;
  current: string;
  metrics: MetricHistogram[];
  /** Metrics without values in a window, with the reason. */
  skipped: Record<string, string>;
}

/** Every detector's result over one reference/current pair of windows. */
export interface DriftReport {
  drifted: boolean;
  verdict: string;
  seconds: number;
  params: Record<string, unknown>;
  results: DriftResult[];
}

/** A saved drift report; listings leave ``report`` out. */
export interface DriftReportInfo {
  id: string;
  created_at: string;
  name: string | null;
  reference: string;
  current: string;
  drifted: boolean;
  verdict: string;
  report?: DriftReport | null;
}

export interface DriftRequest {
  /** Reference window spec, e.g. last:30d or version:v1. */
  reference: string;
  /** Current window spec. */
  current: string;
  /** Scalar metrics (default: the usual set). */
  metrics?: string[] | null;
  embeddings?: string[];
  /** Also test the serving model's hidden states here. */
  layer?: number | null;
  /** Model for hidden-state drift (default model if omitted). */
  model?: string | null;
  alpha?: number;
  n_permutations?: number;
  save?: boolean;
  name?: string | null;
}

/** One detector's answer for one feature. */
export interface DriftResult {
  detector: string;
  feature: string;
  statistic: number | null;
  p_value: number | null;
  threshold: number | null;
  drifted: boolean;
  verdict: string;
  details: Record<string, unknown>;
}

/** A drift report just computed; ``id`` and ``created_at`` are there when it was saved. */
export interface DriftRun {
  drifted: boolean;
  verdict: string;
  seconds: number;
  params: Record<string, unknown>;
  results: DriftResult[];
  id?: string | null;
  created_at?: string | null;
}

/** How a variant was made: its text, the generator, a label and the changed spans. */
export interface EditInfo {
  text: string;
  generator: string;
  label: string;
  changes: Change[];
  meta: Record<string, unknown>;
}

/** Two runs side by side. */
export interface EvalComparison {
  a: EvalRun;
  b: EvalRun;
  metrics: MetricComparison[];
}

/** One scored example of an evaluation run. */
export interface EvalExample {
  idx: number;
  line: number | null;
  prompt: unknown;
  reference: unknown;
  prediction: string | null;
  scores: Record<string, number | null>;
}

/** A stored evaluation run; ``examples`` only when asked for. */
export interface EvalRun {
  id: string;
  name: string;
  created_at: string;
  model: string | null;
  model_version: string | null;
  prompt_version: string | null;
  dataset_path: string | null;
  metrics: string[];
  /** Metric name to its aggregate and provenance. */
  results: Record<string, unknown>;
  n_examples: number;
  n_skipped: number;
  params: Record<string, unknown>;
  examples?: EvalExample[] | null;
}

/** One example: its 1-based row in the file, the prompt and the target (null: the model's answer). */
export interface Example {
  row: number;
  prompt: string;
  target: string | null;
}

/** A page of a data set's examples, and how many it has in all (rows without text skipped). */
export interface ExamplePage {
  id: string;
  name: string;
  total: number;
  skipped: number;
  template: string | null;
  offset: number;
  examples: Example[];
}

/** The model on one example: its answer, metrics (null: not computed) and flags (name → reason). */
export interface ExampleRun {
  prompt: string;
  target: string | null;
  answer: string;
  metrics: Record<string, number | null>;
  flags: Record<string, string>;
}

export interface ExplainRecordRequest {
  method?: string;
  /** Method parameters (see /api/methods). */
  params?: Record<string, unknown>;
  /** Explain with this model instead of the logged one. */
  model?: string | null;
  granularity?: string;
  segments?: string[];
}

export interface ExplainRequest {
  prompt: string;
  /** Text to explain; default: the model's answer. */
  target?: string | null;
  method?: string;
  /** Method parameters (see /api/methods). */
  params?: Record<string, unknown>;
  model?: string | null;
  raw?: boolean;
  system?: string | null;
  foil?: string | null;
  target_kind?: string;
  granularity?: string;
  segments?: string[];
  max_new_tokens?: number;
  seed?: number;
}

/** Scores over named axes with a label per index, and how they were computed. */
export interface Explanation {
  /** attribution, attention, logit_lens, patching, probe... */
  kind: string;
  method: string;
  model: string;
  /** Axis names, outermost first, e.g. ['target', 'input']. */
  axes: string[];
  /** One label per index of each axis. */
  labels: Record<string, string[]>;
  /** Nested lists shaped like the axes; null: not computed. */
  scores: Scores[];
  /** Whether scores have a sign (diverging colours) or not. */
  signed: boolean;
  params: Record<string, unknown>;
  meta: Record<string, unknown>;
}

/** A window of a logged text around the position where the feature fires most. */
export interface FeatureContext {
  tokens: string[];
  activations: number[];
  /** Index of the strongest token in this window. */
  peak: number;
  max: number;
}

/** One feature over the logged traffic: where it fires, how strongly, what it says to the output. */
export interface FeaturePage {
  dictionary: string;
  site: string;
  feature: number;
  /** The texts the contexts and histogram come from. */
  source: string;
  tokens_read: number;
  /** Fraction of the tokens read where the feature fires. */
  density: number;
  max_activation: number;
  contexts: FeatureContext[];
  histogram: Histogram;
  promoted: TokenEffect[];
  suppressed: TokenEffect[];
  /** Records whose stored features include it, strongest first. */
  records: RecordHit[];
}

/** How a per-record metric moves with human feedback (null: undefined for these data). */
export interface FeedbackCorrelation {
  metric: string;
  /** Pairs used: records with both a metric value and feedback. */
  n: number;
  n_dropped: number;
  spearman: number | null;
  spearman_p: number | null;
  point_biserial: number | null;
  point_biserial_p: number | null;
  binary: boolean;
  verdict: string;
}

/** One piece of human feedback on a record. */
export interface FeedbackEntry {
  id: string;
  record_id: string;
  kind: string;
  value: number | null;
  comment: string | null;
  user_id: string | null;
  /** ISO 8601 with +00:00. */
  created_at: string;
}

export interface FeedbackRequest {
  kind: "thumbs_up" | "thumbs_down" | "score" | "comment";
  /** Required for kind=score. */
  value?: number | null;
  comment?: string | null;
  user_id?: string | null;
  /** A UUID you choose, so a retried request is stored once. */
  id?: string | null;
}

export interface GenerateRequest {
  prompt: string;
  model?: string | null;
  raw?: boolean;
  system?: string | null;
  max_new_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number | null;
}

/** A generated continuation with the log-probability of each generated token (null: -inf). */
export interface Generation {
  model: string;
  prompt: string;
  text: string;
  tokens: string[];
  token_ids: number[];
  logprobs: (number | null)[];
  finish_reason: string;
  params: Record<string, unknown>;
}

/** An edit generator: what it changes, what it needs (an encoder, the model...), its parameters. */
export interface GeneratorSpec {
  name: string;
  description: string;
  needs: string[];
  params: ParamSpec[];
}

/** An attribution graph, pruned (``AttributionGraph.to_dict``). */
export interface Graph {
  kind: string;
  schema_version: number;
  model: string;
  prompt: string;
  tokens: string[];
  token_ids: number[];
  n_layers: number;
  targets: GraphTarget[];
  scores: Record<string, number>;
  params: Record<string, unknown>;
  transcoders: string[];
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Counts, timings, the completeness identity and the self-check. */
  meta: Record<string, unknown>;
}

export interface GraphEdge {
  source: string;
  target: string;
  weight: number;
}

/** A graph job: status and progress; ``graph`` once it is done. */
export interface GraphJob {
  id: string;
  kind: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  params: GraphJobParams;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  seconds: number | null;
  cancel_requested: boolean;
  progress: JobProgress;
  steps: (Record<string, unknown>)[];
  error: string | null;
  graph?: Graph | null;
}

export interface GraphJobParams {
  model: string;
  transcoders: string;
  prompt: string;
  chat: boolean;
}

/** A kept node; features carry latent and activation, tokens and errors their token, logits their target. */
export interface GraphNode {
  id: string;
  kind: "feature" | "error" | "token" | "logit";
  /** -1 for tokens, n_layers for logits. */
  layer: number;
  position: number;
  influence: number;
  cumulative: number;
  latent?: number | null;
  activation?: number | null;
  token?: string | null;
  token_id?: number | null;
  probability?: number | null;
  value?: number | null;
}

/** An attribution graph of the prompt's next token over a served transcoder set. */
export interface GraphRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt: string;
  /** A served transcoder set. */
  transcoders: string;
  /** One target token, e.g. ' Paris' (default: the likeliest tokens up to --logit-probability). */
  target?: string | null;
  /** Keep nodes up to this share of the cumulative influence. */
  node_threshold?: number;
  /** Keep edges up to this share of the cumulative influence. */
  edge_threshold?: number;
  /** Feature rows computed (most influential first). */
  max_feature_nodes?: number;
  /** At most this many target logits. */
  max_logits?: number;
  /** Target logits until their probabilities add up to this. */
  logit_probability?: number;
  /** Rows per backward pass. */
  batch_size?: number;
  /** Top features ablated in the real model as a self-check (0: none). */
  verify?: number;
  /** Apply the chat template (default: raw text). */
  chat?: boolean;
  /** Longest prompt accepted, in tokens. */
  max_tokens?: number;
  /** The first token (the attention sink) gets no feature nodes: its MLP output is its error node. */
  skip_first?: boolean;
  /** Put the model's document-start token before a raw prompt that has none; that position is then a constant, with no nodes. */
  document_start?: boolean;
}

export interface GraphTarget {
  token: string;
  id: number;
  probability: number;
  /** The logit minus the mean logit. */
  value: number;
}

export interface HTTPValidationError {
  detail?: ValidationError[];
}

/** How focused each head is: mean attention entropy over layer × head (click a head for its map). */
export interface HeadSummaryRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

export interface Health {
  status: string;
  version: string;
  default_model: string;
  loaded_models: string[];
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Scale feature nodes (a node, or a supernode's nodes with one scale) in the real model. */
export interface InterveneRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt: string;
  /** Apply the chat template (default: raw text). */
  chat?: boolean;
  /** Put the model's document-start token before a raw prompt (as the graph does by default). */
  document_start?: boolean;
  /** A served transcoder set. */
  transcoders: string;
  /** The graph job whose prediction to compare with. */
  graph?: string | null;
  interventions: Intervention[];
  /** Next tokens listed. */
  top_k?: number;
}

export interface Intervention {
  /** Feature node ids, e.g. F1.23@4. */
  nodes: string[];
  /** 0 ablates, 2 doubles. */
  scale: number;
}

/** The real model with the nodes scaled, beside the clean run and the graph's prediction. */
export interface InterventionResult {
  target: Record<string, string | number>;
  nodes: ScaledNode[];
  before: Distribution;
  after: Distribution;
  /** Change of the target's logit minus the mean logit. */
  measured: number;
  /** The graph's prediction through its computed features. */
  predicted: number | null;
  /** Through the nodes' direct edges to the target only. */
  predicted_direct: number | null;
}

/** Checks done of total, the check running now and its items done of total. */
export interface JobProgress {
  done: number;
  total: number;
  current: string | null;
  current_done: number;
  current_total: number;
  fraction: number;
}

/** What each layer would predict: layer × position. */
export interface LogitLensRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Token to score, e.g. ' Paris' (default: the model's own top-1). */
  target?: string | null;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** What each cell shows. */
  score?: "prob" | "logprob" | "rank";
  /** Top predictions kept per cell. */
  top_k?: number;
  /** Add a row for the embeddings. */
  include_embed?: boolean;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/** An attribution method: what it computes and the parameters its form shows. */
export interface MethodSpec {
  name: string;
  description: string;
  /** Whether its scores have a sign. */
  signed: boolean;
  kind: string;
  params: ParamSpec[];
}

/** One metric in two runs: both aggregates, B − A, which is better, paired wins of B. */
export interface MetricComparison {
  metric: string;
  a: number | null;
  b: number | null;
  diff: number | null;
  /** a, b, same, or null when not comparable. */
  better: string | null;
  wins: number | null;
  losses: number | null;
  ties: number | null;
}

/** One metric in both windows, counted on shared bin edges (len(edges) = bins + 1). */
export interface MetricHistogram {
  metric: string;
  edges: number[];
  reference: number[];
  current: number[];
  reference_n: number;
  current_n: number;
}

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** One model Pellucid knows (``pellucid models``): what it is and where it lives. */
export interface ModelInfo {
  name: string;
  kind: string;
  /** converted, bundled, cached or not installed. */
  status: string;
  architecture: string | null;
  layers: number | null;
  heads: number | null;
  d_model: number | null;
  context_length: number | null;
  size_bytes: number | null;
  location: string | null;
  description: string;
}

export interface ModelList {
  object: "list";
  data: ModelCard[];
}

/** One model's engine, now (times in milliseconds; ``None``: no request measured yet). */
export interface ModelServing {
  model: string;
  /** Most requests decoded together. */
  max_batch: number;
  /** Most requests waiting for a slot; one more is answered 429. */
  max_queue: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** Requests in the running decode batch. */
  running: number;
  /** Requests that finished (end token, stop or max_tokens). */
  served: number;
  /** Requests whose client left before the end. */
  cancelled: number;
  /** Requests refused because the queue was full. */
  rejected: number;
  generated_tokens: number;
  /** Tokens generated per second over the last 10 s. */
  tokens_per_s: number;
  /** Median time from queueing to first token (last 512 requests). */
  ttft_p50_ms: number | null;
  ttft_p95_ms: number | null;
}

/** Feature drift between two windows: the latents that moved most. */
export interface MovedFeatures {
  dictionary: string;
  reference: Record<string, unknown>;
  current: Record<string, unknown>;
  feature: string;
  verdict: string;
  drifted: boolean;
  latents_tested: number;
  latents_moved: number;
  moved: MovedLatent[];
}

export interface MovedLatent {
  latent: number;
  /** appeared, vanished, rose, fell or unchanged. */
  change: string;
  reference_rate: number;
  current_rate: number;
  p_value: number;
  q_value: number;
  /** The workbench link to the feature's page. */
  page: string;
  /** The workbench link to the records where it fires. */
  records: string;
}

/** circuit-tracer's node/link JSON (``create_graph_files``), what Neuronpedia's graph viewer reads. */
export interface NeuronpediaGraph {
  metadata: Record<string, unknown>;
  qParams: Record<string, unknown>;
  nodes: (Record<string, unknown>)[];
  links: (Record<string, unknown>)[];
}

export interface NextToken {
  token: string;
  id: number;
  probability: number;
}

/** A feature node's latent as the Features tab shows it, on its layer's transcoder. */
export interface NodeContexts {
  dictionary: string;
  site: string;
  feature: number;
  /** The texts the contexts and histogram come from. */
  source: string;
  tokens_read: number;
  /** Fraction of the tokens read where the feature fires. */
  density: number;
  max_activation: number;
  contexts: FeatureContext[];
  histogram: Histogram;
  promoted: TokenEffect[];
  suppressed: TokenEffect[];
  /** Records whose stored features include it, strongest first. */
  records: RecordHit[];
  set: string;
  layer: number;
}

export interface OpenDataset {
  /** A file on the server (no API token only). */
  path?: string | null;
  /** An uploaded file's name (.jsonl, .csv, .tsv). */
  name?: string | null;
  /** An uploaded file's text. */
  text?: string | null;
  /** Where a text field goes: {text}. */
  template?: string | null;
  limit?: number;
}

/** One parameter of a method, verb, check or generator, described for forms and help. */
export interface ParamSpec {
  name: string;
  /** str, int, float, bool, int_list or str_list. */
  type: string;
  default: unknown;
  help: string;
  choices: unknown[] | null;
  min: number | null;
  max: number | null;
  required?: boolean | null;
  /** text (a text area) or lines (one item per line). */
  widget?: string | null;
}

/** Activation patching: which activations carry the clean/corrupted difference (layer × position). */
export interface PatchRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  clean?: string;
  corrupted?: string;
  /** Next token, e.g. ' Paris' (mind the space). */
  target?: string;
  /** Competing token, e.g. ' Rome' (the metric becomes the logit difference). */
  foil?: string | null;
  /** Activation patched; heads gives layer × head. */
  site?: "resid_pre" | "resid_post" | "attn.out" | "mlp.out" | "heads";
  /** Default: logit_diff with a foil, else prob. */
  metric?: "logit_diff" | "prob" | "logprob" | null;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Positions, e.g. '0-5' (default: all). */
  positions?: number[] | null;
  /** Pad the shorter prompt where the two differ. */
  align?: boolean;
  /** denoise: clean into corrupted; noise: the reverse. */
  direction?: "denoise" | "noise";
  /** Scale so clean = 1 and corrupted = 0. */
  normalize?: boolean;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/** Pellucid's extension: the logged record's id (for feedback) and whether the cache answered. */
export interface PellucidInfo {
  record_id: string | null;
  cache_hit: boolean;
}

/** Linear-probe accuracy by layer, cross-validated, with a control task. */
export interface ProbeRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  /** One example per line: 'label: text'. */
  examples: string[];
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Cross-validation folds. */
  cv?: number;
  /** Also fit a control task (Hewitt & Liang) and report selectivity. */
  control?: boolean;
  /** Folds by word type (token data) or random. */
  split?: "type" | "random";
  /** Seed for sampling, folds and control labels. */
  seed?: number;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/** 2-D points of stored embeddings, and how they were made (explained variance...). */
export interface Projection {
  method: string;
  field: string;
  points: ProjectionPoint[];
  [key: string]: unknown;
}

/** One record in 2-D, with what the projector colours by (model, flags, metrics...). */
export interface ProjectionPoint {
  id: string;
  x: number;
  y: number;
  cluster: number | null;
  text?: string | null;
  model?: string | null;
  model_version?: string | null;
  flags?: string[] | null;
  metrics?: Record<string, number | null> | null;
  [key: string]: unknown;
}

export interface RecordHit {
  id: string;
  activation: number;
}

/** A logged call with its tags, flags, feedback and metrics (times in ISO 8601 with +00:00). */
export interface RecordItem {
  id: string;
  created_at: string;
  /** Text, or chat messages as sent to the model. */
  prompt: string | (Record<string, unknown>)[];
  prompt_text: string;
  prompt_hash: string;
  response: string | null;
  model: string | null;
  model_version: string | null;
  template_version: string | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  params: Record<string, unknown>;
  user_id: string | null;
  session_id: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  cache_hit: boolean | null;
  cache_key: string | null;
  redaction: Record<string, unknown> | null;
  flags: Record<string, string>;
  language: string | null;
  error: string | null;
  feedback: FeedbackEntry[];
  metrics: Record<string, number | null>;
}

/** One page of records; pass ``next_cursor`` back as ``cursor`` for the next (null: the last). */
export interface RecordPage {
  items: RecordItem[];
  next_cursor: string | null;
  /** Matching records, when with_total was asked. */
  total: number | null;
}

/** The last progress point of a running request (``null`` before its first one). */
export interface RequestProgress {
  id: string;
  done: number | null;
  total: number | null;
  fraction: number | null;
}

/** An explanation as ``POST /api/explanations`` answered it (the fields aggregation reads). */
export interface RowAttribution {
  kind?: string;
  method: string;
  model: string;
  axes: string[];
  labels: Record<string, string[]>;
  /** Nested lists shaped like the axes; null: not computed. */
  scores: unknown[];
  signed?: boolean;
}

/** The outcome of checking one rule now. */
export interface RuleCheck {
  rule: string;
  condition: string;
  value: number | null;
  n: number;
  holds: boolean;
  fired: boolean;
  state: string;
  message: string;
  event: AlertEvent | null;
  /** Measured only: `fired` says whether it would have fired. */
  dry_run?: boolean;
}

export interface RunItem {
  prompt: string;
  target?: string | null;
}

export interface RunRequest {
  examples: RunItem[];
  model?: string | null;
  max_new_tokens?: number;
  /** The prompts as plain text, not in the chat template. */
  raw?: boolean;
}

export interface ScaledNode {
  id: string;
  layer: number;
  latent: number;
  position: number;
  activation: number;
  scale: number;
}

export interface ScoreRequest {
  prompt: string;
  target: string;
  model?: string | null;
  raw?: boolean;
  system?: string | null;
}

export type Scores = number | Scores[] | null;

/** A metric aggregated over one time bucket (and one group, e.g. a model version). */
export interface SeriesPoint {
  bucket_start: string;
  group: string | null;
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  /** The bucket's median (with percentiles=true). */
  p50?: number | null;
  /** The bucket's 95th percentile (with percentiles=true). */
  p95?: number | null;
}

export interface Serving {
  /** Whether local models are served by continuous batching. */
  batching: boolean;
  models: ModelServing[];
}

export interface StreamOptions {
  include_usage?: boolean;
}

export interface TokenEffect {
  token: string;
  /** Logit change per unit of the feature's unit direction. */
  value: number;
}

export interface TokenFeature {
  latent: number;
  activation: number;
}

/** Each token of a prompt and its strongest active latents (strongest first). */
export interface TokenFeatures {
  dictionary: string;
  site: string;
  model: string;
  tokens: string[];
  features: TokenFeature[][];
}

/** Teacher-forced log-probabilities of a target after a prompt, per token and in total. */
export interface TokenScores {
  model: string;
  prompt: string;
  target: string;
  tokens: string[];
  token_ids: number[];
  logprobs: (number | null)[];
  total: number | null;
}

export interface TokensRequest {
  prompt: string;
  /** Latents listed per token. */
  k?: number;
  /** Wrap the prompt in the chat template (default: the text as is). */
  chat?: boolean;
  model?: string | null;
}

export interface TraceDetail {
  trace_id: string;
  session_id: string | null;
  started_at: string;
  duration_ms: number;
  spans: TraceSpan[];
}

/** Causal tracing (ROME): where a fact is recalled, with the subject corrupted by noise. */
export interface TraceRequest {
  /** Model name (default: the server's model). */
  model?: string | null;
  prompt?: string;
  /** Next token, e.g. ' Paris' (mind the space). */
  target?: string;
  /** Text of the prompt to corrupt, e.g. 'Eiffel Tower'. */
  subject?: string;
  /** Noise samples averaged. */
  samples?: number;
  /** Noise std in units of the embedding std (ROME: 3). */
  noise?: number;
  /** Random seed. */
  seed?: number;
  /** State restored. */
  site?: "resid_post" | "mlp.out" | "attn.out";
  /** Consecutive layers restored together (ROME: 10 for MLP/attention). */
  window?: number;
  /** Layers, e.g. '0,5,10', '0-11' or '-1' (default: all). */
  layers?: number[] | null;
  /** Apply the chat template (default: raw text, as next-token analyses read). */
  chat?: boolean;
}

/** One span on the timeline: an LLM call (``kind`` ``llm``, with its record) or a context span. */
export interface TraceSpan {
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: "llm" | "context";
  /** gen_ai.operation.name or the OpenInference span kind. */
  operation: string | null;
  /** Milliseconds since the trace's first span started. */
  start_ms: number;
  end_ms: number;
  /** 0 for a root span, its parent's depth + 1 otherwise. */
  depth: number;
  /** The stored call (LLM spans only): explain it from here. */
  record_id: string | null;
  model: string | null;
  error: string | null;
  /** The prompt text, cut to 300 characters. */
  prompt: string | null;
  /** The response, cut to 300 characters. */
  response: string | null;
}

/** One trace in the list (``TraceSummary.to_dict()``). */
export interface TraceSummary {
  trace_id: string;
  session_id: string | null;
  started_at: string;
  last_call_at: string;
  /** LLM spans stored as records. */
  calls: number;
  errors: number;
  models: string[];
}

/** A served transcoder set (``error`` instead of the rest when its folder cannot be read). */
export interface TranscoderSetInfo {
  /** The folder's name: how requests name the set. */
  name: string;
  folder: string;
  model?: string | null;
  layers?: number[] | null;
  /** Latents per layer (a list when layers differ). */
  width?: number | number[] | null;
  /** Architectures: topk, batchtopk or jumprelu. */
  architecture?: string[] | null;
  /** The layers whose transcoder has a linear skip term. */
  skip?: number[] | null;
  error?: string | null;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ValidationError {
  loc: (string | number)[];
  msg: string;
  type: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** An inspect verb: what it shows and the parameters its form asks for. */
export interface VerbSpec {
  name: string;
  description: string;
  params: ParamSpec[];
}

/**
 * A window at a glance: volume, errors, and the median and 95th percentile of latency and of
 * time to first token (null when no record in the window has the value).
 */
export interface WindowSummary {
  records: number;
  errors: number;
  error_rate: number | null;
  latency_ms_p50: number | null;
  latency_ms_p95: number | null;
  ttft_ms_p50: number | null;
  ttft_ms_p95: number | null;
}

/** One step of a word diff between the original prompt and a variant. */
export interface WordDiffOp {
  op: "equal" | "replace" | "delete" | "insert";
  old: string[];
  new: string[];
}

/** A word's mean attribution over the rows holding it (its per-row sum), and how often it occurs. */
export interface WordWeight {
  word: string;
  mean: number;
  rows: number;
  occurrences: number;
}
