// The records table's columns: what each shows, which the server can sort by, and which are
// shown. The choice of columns and the sort live in the address (#monitor/records?cols=…&sort=…
// &order=…), so a link reopens the same table.

import { h } from "../../lib/dom";
import { num, time, truncate } from "../../lib/format";
import type { RecordItem } from "../../lib/types";
import { hashParams, hashRoute, setHashState } from "../../lib/urlstate";

export interface Column {
  id: string;
  label: string;
  /** The server's sort key (GET /api/records?sort=…); absent: not sortable. */
  sort?: string;
  cell: (r: RecordItem) => HTMLTableCellElement;
}

function feedbackCell(r: RecordItem): string {
  if (!r.feedback?.length) return "";
  return r.feedback.map((f) => (f.kind === "thumbs_up" ? "▲" : f.kind === "thumbs_down" ? "▼" : f.kind === "score" ? `★${num(f.value)}` : "✎")).join(" ");
}

export const COLUMNS: Column[] = [
  { id: "time", label: "Time", sort: "created_at", cell: (r) => h("td", { class: "nowrap" }, time(r.created_at)) },
  { id: "model", label: "Model", sort: "model", cell: (r) => h("td", {}, r.model ?? "") },
  { id: "prompt", label: "Prompt", sort: "prompt_chars", cell: (r) => h("td", { title: r.prompt_text }, truncate(r.prompt_text, 80)) },
  {
    id: "response",
    label: "Response",
    sort: "response_chars",
    cell: (r) => h("td", { title: r.response ?? "" }, r.error ? h("span", { class: "bad" }, truncate(r.error, 60)) : truncate(r.response ?? "", 80)),
  },
  { id: "latency", label: "Latency ms", sort: "latency_ms", cell: (r) => h("td", { class: "num" }, num(r.latency_ms, 0)) },
  { id: "ttft", label: "TTFT ms", sort: "ttft_ms", cell: (r) => h("td", { class: "num" }, num(r.ttft_ms, 0)) },
  { id: "tokens_in", label: "Tokens in", sort: "prompt_tokens", cell: (r) => h("td", { class: "num" }, r.prompt_tokens ?? "–") },
  { id: "tokens_out", label: "Tokens out", sort: "completion_tokens", cell: (r) => h("td", { class: "num" }, r.completion_tokens ?? "–") },
  { id: "tags", label: "Tags", cell: (r) => h("td", {}, (r.tags ?? []).join(", ")) },
  { id: "flags", label: "Flags", cell: (r) => h("td", {}, Object.keys(r.flags ?? {}).join(", ")) },
  { id: "feedback", label: "Feedback", cell: (r) => h("td", {}, feedbackCell(r)) },
];
const DEFAULT_COLUMNS = ["time", "model", "prompt", "response", "latency", "tokens_in", "tokens_out", "tags", "feedback"];

export interface TableState {
  cols: string[];
  sort: string | null;
  order: "asc" | "desc";
}

/** The table's state from the address (defaults when the link says nothing). */
export function readState(): TableState {
  const p = hashRoute() === "monitor/records" ? hashParams() : new URLSearchParams();
  const known = new Set(COLUMNS.map((c) => c.id));
  const cols = (p.get("cols") ?? "").split(",").filter((c) => known.has(c));
  const sort = COLUMNS.some((c) => c.sort === p.get("sort")) ? p.get("sort") : null;
  return { cols: cols.length ? cols : DEFAULT_COLUMNS, sort, order: p.get("order") === "asc" ? "asc" : "desc" };
}

/** Keep the state in the address, beside what is there already (an open record). */
export function writeState(s: TableState): void {
  const params = Object.fromEntries(hashParams());
  const cols = s.cols.join(",") === DEFAULT_COLUMNS.join(",") ? null : s.cols.join(",");
  setHashState("monitor/records", { ...params, cols, sort: s.sort, order: s.sort ? s.order : null });
}

/** The header cell of ``col``: a button that sorts (asc first, then desc) with aria-sort. */
export function headerCell(col: Column, s: TableState, onSort: (sort: string) => void): HTMLTableCellElement {
  if (!col.sort) return h("th", { scope: "col" }, col.label);
  const on = s.sort === col.sort;
  const arrow = on ? (s.order === "asc" ? " ▲" : " ▼") : "";
  return h(
    "th",
    { scope: "col", "aria-sort": on ? (s.order === "asc" ? "ascending" : "descending") : "none", "data-sort": col.sort },
    h("button", { type: "button", class: "th-sort", onclick: () => onSort(col.sort!) }, col.label, arrow),
  );
}

/** The column chooser: one checkbox per column (at least one stays shown). */
export function columnChooser(s: TableState, onChange: (cols: string[]) => void): HTMLElement {
  const boxes = COLUMNS.map((c) =>
    h(
      "label",
      { class: "check" },
      h("input", {
        type: "checkbox",
        value: c.id,
        checked: s.cols.includes(c.id),
        "data-col": c.id,
        onchange: (e: Event) => {
          const chosen = boxes.map((b) => b.querySelector("input")!).filter((i) => i.checked).map((i) => i.value);
          if (!chosen.length) return void ((e.target as HTMLInputElement).checked = true); // the last one stays
          onChange(COLUMNS.map((col) => col.id).filter((id) => chosen.includes(id)));
        },
      }),
      ` ${c.label}`,
    ),
  );
  return h("details", { class: "col-chooser", id: "rec-columns" }, h("summary", {}, "Columns"), h("div", { class: "col-list" }, boxes));
}
