// The monitor at a glance: summary cards for a window (GET /api/metrics/summary) — how many
// calls, how many failed, and the median and 95th percentile of latency and of time to first
// token — and window presets that set the window and a bucket that suits it.

import { api } from "../../lib/api";
import { h, setChildren } from "../../lib/dom";
import { num } from "../../lib/format";
import type { WindowSummary } from "../../lib/api-types.generated";

/** Window presets: label, window spec, bucket seconds. */
export const PRESETS: [string, string, number][] = [
  ["1 h", "last:1h", 60],
  ["24 h", "last:24h", 3600],
  ["7 d", "last:7d", 3600],
  ["30 d", "last:30d", 86400],
];

function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return v >= 1000 ? `${num(v / 1000, 2)} s` : `${num(v, 0)} ms`;
}

function card(key: string, label: string, value: string, sub = ""): HTMLElement {
  return h("div", { class: "card stat", "data-stat": key }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub muted small" }, sub));
}

/** The cards for one summary. */
export function summaryCards(s: WindowSummary): HTMLElement[] {
  const rate = s.error_rate === null ? "–" : `${num(s.error_rate * 100, 2)} %`;
  return [
    card("records", "Calls", num(s.records, 0)),
    card("error_rate", "Error rate", rate, `${s.errors} failed`),
    card("latency_p50", "Latency p50", ms(s.latency_ms_p50)),
    card("latency_p95", "Latency p95", ms(s.latency_ms_p95)),
    card("ttft_p50", "Time to first token p50", ms(s.ttft_ms_p50), s.ttft_ms_p95 === null ? "streamed calls only" : `p95 ${ms(s.ttft_ms_p95)}`),
  ];
}

/** Fill ``host`` with the cards of ``window`` (an error replaces them with its message). */
export async function loadSummary(host: HTMLElement, window: string, signal?: AbortSignal): Promise<void> {
  try {
    const s = await api<WindowSummary>("/api/metrics/summary", { query: { window }, signal });
    setChildren(host, summaryCards(s));
  } catch (e) {
    setChildren(host, h("div", { class: "error" }, `Summary: ${(e as Error).message}`));
  }
}
