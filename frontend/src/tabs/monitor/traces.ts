// Traces: calls that arrived as OpenTelemetry spans (POST /v1/traces), grouped by session and
// trace (GET /api/traces), and one trace as a timeline (GET /api/traces/{id}): every span a row,
// indented by its depth in the span tree, its bar placed by start and end on the trace's time
// axis. An LLM span is a stored call: "Explain" opens its record and runs the explanation.

import { api } from "../../lib/api";
import { button, h, setChildren } from "../../lib/dom";
import { num, time, truncate } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { TraceDetail, TraceSpan, TraceSummary } from "../../lib/types";

/** Open a record in the side panel; with explain, run "Explain this" at once. */
export type OpenRecord = (id: string, options?: { explain?: boolean }) => void;

function bySession(traces: TraceSummary[]): Map<string, TraceSummary[]> {
  const groups = new Map<string, TraceSummary[]>();
  for (const t of traces) {
    const key = t.session_id ?? "";
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return groups;
}

function spanRow(span: TraceSpan, duration: number, open: OpenRecord): HTMLElement {
  const left = duration > 0 ? (span.start_ms / duration) * 100 : 0;
  const width = duration > 0 ? Math.max(((span.end_ms - span.start_ms) / duration) * 100, 0.5) : 100;
  const title = `${span.name}: ${num(span.end_ms - span.start_ms, 4)} ms from ${num(span.start_ms, 4)} ms`;
  const label = h(
    "div",
    { class: "span-label", style: { paddingLeft: `${span.depth * 1.1}rem` } },
    h("span", { class: `span-kind ${span.kind}` }, span.kind === "llm" ? "LLM" : (span.operation ?? "span")),
    " ",
    span.name,
    span.model ? h("span", { class: "muted" }, ` ${span.model}`) : null,
  );
  const bar = h(
    "div",
    { class: "span-track" },
    h("div", { class: `span-bar ${span.kind}${span.error ? " error" : ""}`, title, style: { left: `${left}%`, width: `${width}%` } }),
  );
  const actions = h("div", { class: "span-actions" });
  if (span.record_id) {
    const id = span.record_id;
    actions.append(
      button("Record", () => open(id), "secondary small"),
      button("Explain", () => open(id, { explain: true }), "primary small span-explain"),
    );
  }
  const detail = span.kind === "llm" ? h("div", { class: "span-text muted" }, truncate(span.prompt ?? "", 120), " → ", truncate(span.response ?? span.error ?? "", 120)) : null;
  return h("div", { class: `span-row ${span.kind}`, "data-span": span.span_id }, label, bar, actions, detail);
}

function timeline(trace: TraceDetail, open: OpenRecord): HTMLElement {
  return h(
    "div",
    { class: "trace-timeline", id: "trace-timeline" },
    h(
      "h4",
      {},
      "Trace ",
      h("code", {}, trace.trace_id.slice(0, 16)),
      h("span", { class: "muted" }, ` ${time(trace.started_at)} · ${num(trace.duration_ms, 4)} ms · ${trace.spans.length} spans`),
    ),
    trace.spans.map((s) => spanRow(s, trace.duration_ms, open)),
  );
}

export function tracesView(open: OpenRecord): HTMLElement {
  const status = h("div", { class: "status" });
  const list = h("div", { class: "trace-list", id: "trace-list" });
  const detail = h("div", { class: "trace-detail" });
  const session = h("input", { type: "text", id: "trace-session", placeholder: "any session" });

  async function show(id: string): Promise<void> {
    const trace = await runJob(status, "Loading the trace", (signal) => api<TraceDetail>(`/api/traces/${encodeURIComponent(id)}`, { signal }));
    if (trace) setChildren(detail, timeline(trace, open));
    list.querySelectorAll(".trace-item").forEach((el) => el.classList.toggle("on", (el as HTMLElement).dataset.trace === id));
  }

  async function load(): Promise<void> {
    const traces = await runJob(status, "Loading traces", (signal) =>
      api<TraceSummary[]>("/api/traces", { query: { limit: 100, session_id: session.value.trim() }, signal }),
    );
    if (!traces) return;
    if (!traces.length) {
      setChildren(list, h("p", { class: "muted" }, "No traces yet: point an OpenTelemetry exporter at /v1/traces."));
      return;
    }
    const groups = [...bySession(traces)].map(([sid, items]) =>
      h(
        "section",
        { class: "trace-session" },
        h("h4", {}, sid ? ["Session ", h("code", {}, sid)] : "No session"),
        items.map((t) =>
          h(
            "button",
            { type: "button", class: "trace-item", "data-trace": t.trace_id, onclick: () => void show(t.trace_id) },
            h("code", {}, t.trace_id.slice(0, 12)),
            ` ${time(t.started_at)} · ${t.calls} call${t.calls === 1 ? "" : "s"}`,
            t.errors ? h("span", { class: "error-count" }, ` · ${t.errors} failed`) : null,
            h("span", { class: "muted" }, ` ${t.models.join(", ")}`),
          ),
        ),
      ),
    );
    setChildren(list, groups);
  }

  void load();
  return h(
    "div",
    { class: "traces-view" },
    h("div", { class: "actions" }, session, button("Refresh", () => void load(), "secondary small")),
    status,
    h("div", { class: "traces-layout" }, list, detail),
  );
}
