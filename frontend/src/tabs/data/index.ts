// Data: a whole data set at once (LIT's centre). Load a file — uploaded from this computer or, on a
// server without an API token, by its path there — read as `pellucid explain --dataset` reads it,
// a page at a time; or a slice of logged records (a window and filters). Every example shows the
// model's answer (or the logged response), per-example metrics and flags in a sortable, filterable
// table; selected rows are explained or edited in bulk, and their attributions aggregated.

import { api } from "../../lib/api";
import type { ExamplePage } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { button, field, h } from "../../lib/dom";
import { time } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { RecordItem, RecordPage } from "../../lib/types";
import { hashParams, setHashState } from "../../lib/urlstate";
import { bulkActions } from "./bulk";
import { dataTable, type DataRow } from "./table";

const PAGE = 100;

function exampleRows(page: ExamplePage): DataRow[] {
  return page.examples.map((e) => ({ key: `${page.id}:${e.row}`, row: e.row, prompt: e.prompt, target: e.target, answer: null, metrics: {}, flags: [] }));
}

function recordRow(r: RecordItem): DataRow {
  const metrics: Record<string, number | null> = { latency_ms: r.latency_ms, ttft_ms: r.ttft_ms, prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, ...r.metrics };
  return { key: r.id, row: time(r.created_at), prompt: r.prompt_text, target: null, answer: r.error ? null : r.response, metrics, flags: Object.keys(r.flags ?? {}), recordId: r.id };
}

/** The file form: upload or path, and a template; answers the first page to ``show``. */
function fileSource(status: HTMLElement, show: (p: ExamplePage) => void): HTMLElement {
  const upload = h("input", { type: "file", id: "data-file", accept: ".jsonl,.csv,.tsv" });
  const path = h("input", { type: "text", id: "data-path", placeholder: "/path/on/the/server/reviews.jsonl" });
  const template = h("input", { type: "text", id: "data-template", placeholder: "default: the sentiment question around {text}" });
  async function open(): Promise<void> {
    const file = upload.files?.[0];
    const source = file ? { name: file.name, text: await file.text() } : { path: path.value.trim() };
    const body = { ...source, template: template.value || null, limit: PAGE };
    const p = await runJob(status, "Opening the data set", (signal) => api<ExamplePage>("/api/datasets", { body, signal }));
    if (p) show(p);
  }
  return h(
    "form",
    { class: "panel filters", id: "data-file-form", onsubmit: (e: Event) => (e.preventDefault(), void open()) },
    h("h3", {}, "A data-set file"),
    field("Upload (.jsonl, .csv, .tsv)", upload),
    field("…or a path on the server", path, "read only by a server without an API token"),
    field("Template", template, "where a text column goes: {text}; its label gives the target"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "data-open" }, "Open file")),
  );
}

/** ``last:30m`` / ``last:12h`` / ``last:7d`` as the start of the window (null: all time). */
function since(span: string): string | null {
  const m = /^last:(\d+)([mhd])$/.exec(span.trim());
  return m ? new Date(Date.now() - Number(m[1]) * { m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as "m" | "h" | "d"]).toISOString() : null;
}

/** The logged-records form: a window and filters; answers the rows and a description to ``show``. */
function recordSource(status: HTMLElement, show: (rows: DataRow[], label: string) => void): HTMLElement {
  const span = h("input", { type: "text", id: "data-window", value: hashParams().get("window") ?? "last:1d" });
  const model = h("input", { type: "text", id: "data-rec-model", placeholder: "any" });
  const flag = h("input", { type: "text", id: "data-rec-flag", placeholder: "any" });
  const q = h("input", { type: "search", id: "data-rec-q", placeholder: "text in prompt or response" });
  const limit = h("input", { type: "number", id: "data-rec-limit", min: 1, max: 1000, value: "200" });
  async function open(): Promise<void> {
    const query = { since: since(span.value), model: model.value.trim(), flag: flag.value.trim(), q: q.value.trim(), limit: Number(limit.value) || 200 };
    const p = await runJob(status, "Loading records", (signal) => api<RecordPage>("/api/records", { query, signal }));
    if (!p) return;
    show(p.items.map(recordRow), `${p.items.length} logged record${p.items.length === 1 ? "" : "s"} (${span.value.trim() || "all time"})`);
    setHashState("data", { source: "records", window: span.value.trim() });
  }
  if (hashParams().get("source") === "records") queueMicrotask(() => void open());
  return h(
    "form",
    { class: "panel filters", id: "data-records-form", onsubmit: (e: Event) => (e.preventDefault(), void open()) },
    h("h3", {}, "Logged records"),
    field("Window", span, "last:30m, last:12h, last:7d; empty: all time"),
    field("Model", model),
    field("Flag", flag),
    field("Search", q),
    field("At most", limit),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "data-records-open" }, "Load records")),
  );
}

export function dataTab(ctx: AppContext): HTMLElement {
  const table = dataTable();
  const status = h("div", { class: "status", id: "data-load-status" });
  const info = h("span", { class: "muted", id: "data-info" });
  const raw = h("input", { type: "checkbox", id: "data-raw" });
  let page: ExamplePage | null = null;

  const showPage = (p: ExamplePage): void => {
    page = p;
    const last = Math.min(p.offset + p.examples.length, p.total);
    info.textContent = `${p.name}: rows ${p.total ? p.offset + 1 : 0}–${last} of ${p.total}${p.skipped ? ` (${p.skipped} empty skipped)` : ""}`;
    prev.disabled = p.offset === 0;
    next.disabled = last >= p.total;
    raw.checked = p.template !== null; // a templated prompt is plain text, not a chat message
    table.setRows(exampleRows(p));
  };
  const showRecords = (rows: DataRow[], label: string): void => {
    page = null;
    prev.disabled = next.disabled = true;
    info.textContent = label;
    raw.checked = false;
    table.setRows(rows);
  };
  async function turn(step: number): Promise<void> {
    if (!page) return;
    const query = { offset: Math.max(0, page.offset + step * PAGE), limit: PAGE };
    const p = await runJob(status, "Loading rows", (signal) => api<ExamplePage>(`/api/datasets/${page!.id}/examples`, { query, signal }));
    if (p) showPage(p);
  }
  const prev = button("← Previous", () => void turn(-1), "secondary small");
  const next = button("Next →", () => void turn(1), "secondary small");
  prev.disabled = next.disabled = true;
  return h(
    "div",
    { class: "tab-body data-view" },
    h("div", { class: "data-sources" }, fileSource(status, showPage), recordSource(status, showRecords)),
    status,
    h("div", { class: "pager" }, prev, info, next, h("label", { class: "check", title: "plain text, not the model's chat template" }, raw, " raw prompts")),
    h("div", { class: "data-layout" }, table.element, bulkActions(ctx, table, () => raw.checked)),
  );
}
