// The data-set table: one row per example with the model's answer (or the logged response),
// per-example metrics and flags, and the result of the last bulk action. Sorting (a header
// click: ascending, then descending) and the text filter act on the rows loaded (a page of a
// file, or a slice of logged records); the checkboxes choose the rows bulk actions work on.

import { h, setChildren } from "../../lib/dom";
import { num, truncate } from "../../lib/format";

export interface DataRow {
  key: string;
  /** The row in the file (1-based), or the record's time for logged records. */
  row: number | string;
  prompt: string;
  target: string | null;
  answer: string | null;
  metrics: Record<string, number | null>;
  flags: string[];
  /** What the last bulk action found for this row (top words, counterfactual effect). */
  result?: string;
  recordId?: string;
}

type SortKey = { column: string; asc: boolean } | null;

function value(r: DataRow, column: string): number | string {
  if (column === "row") return r.row;
  if (column === "prompt") return r.prompt;
  if (column === "target") return r.target ?? "";
  if (column === "answer") return r.answer ?? "";
  if (column === "flags") return r.flags.length;
  if (column === "result") return r.result ?? "";
  return r.metrics[column] ?? Number.NaN;
}

/** Compare for sorting: missing numbers last in both directions. */
function compare(a: number | string, b: number | string, asc: boolean): number {
  const missA = typeof a === "number" && Number.isNaN(a);
  const missB = typeof b === "number" && Number.isNaN(b);
  if (missA || missB) return missA === missB ? 0 : missA ? 1 : -1;
  const d = typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
  return asc ? d : -d;
}

/** The rows the filter lets through (text in prompt, answer, target or flags; flagged only), sorted. */
export function shownRows(rows: DataRow[], filter: string, flaggedOnly: boolean, sort: SortKey): DataRow[] {
  const text = filter.trim().toLowerCase();
  const shown = rows.filter(
    (r) =>
      (!flaggedOnly || r.flags.length > 0) &&
      (!text || [r.prompt, r.answer ?? "", r.target ?? "", r.flags.join(" ")].some((s) => s.toLowerCase().includes(text))),
  );
  return sort ? [...shown].sort((a, b) => compare(value(a, sort.column), value(b, sort.column), sort.asc)) : shown;
}

function cell(r: DataRow, c: string): HTMLElement {
  const v = value(r, c);
  if (c === "flags") return h("td", {}, r.flags.map((f) => h("span", { class: "badge bad" }, f)));
  if (typeof v === "number") return h("td", { class: "num" }, c === "row" ? String(v) : num(Number.isNaN(v) ? null : v));
  return h("td", { title: v }, truncate(v, c === "prompt" ? 90 : 60));
}

export interface DataTable {
  element: HTMLElement;
  setRows(rows: DataRow[]): void;
  rows(): DataRow[];
  selected(): DataRow[];
  refresh(): void;
}

export function dataTable(): DataTable {
  let rows: DataRow[] = [];
  let sort: SortKey = null;
  const chosen = new Set<string>();
  const filter = h("input", { type: "search", id: "data-filter", placeholder: "filter: text in prompt, answer or flags", oninput: () => draw() });
  const flaggedOnly = h("input", { type: "checkbox", id: "data-flagged", onchange: () => draw() });
  const all = h("input", { type: "checkbox", id: "data-select-all", "aria-label": "Select every shown row", onchange: () => selectShown(all.checked) });
  const head = h("tr");
  const body = h("tbody");
  const count = h("span", { class: "muted", id: "data-count" });

  const visible = (): DataRow[] => shownRows(rows, filter.value, flaggedOnly.checked, sort);
  const selectShown = (on: boolean): void => {
    for (const r of visible()) on ? chosen.add(r.key) : chosen.delete(r.key);
    draw();
  };
  const columns = (): string[] => {
    const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
    return ["row", "prompt", "target", "answer", ...metrics, "flags", "result"];
  };
  const header = (c: string): HTMLElement => {
    const on = sort?.column === c;
    const ariaSort = on ? (sort!.asc ? "ascending" : "descending") : "none";
    const click = (): void => ((sort = { column: c, asc: on ? !sort!.asc : true }), draw());
    return h("th", { scope: "col", "aria-sort": ariaSort, "data-col": c }, h("button", { type: "button", class: "th-sort", onclick: click }, c.replace(/_/g, " "), on ? (sort!.asc ? " ▲" : " ▼") : ""));
  };
  function draw(): void {
    const cols = columns();
    setChildren(head, h("th", {}, all), cols.map(header));
    const shown = visible();
    setChildren(
      body,
      shown.map((r) => {
        const box = h("input", { type: "checkbox", checked: chosen.has(r.key), "aria-label": `Select row ${r.row}`, onchange: () => (box.checked ? chosen.add(r.key) : chosen.delete(r.key), drawCount()) });
        return h("tr", { "data-key": r.key }, h("td", {}, box), cols.map((c) => cell(r, c)));
      }),
    );
    all.checked = shown.length > 0 && shown.every((r) => chosen.has(r.key));
    drawCount(shown.length);
  }
  function drawCount(shown = visible().length): void {
    count.textContent = `${shown} of ${rows.length} rows shown, ${rows.filter((r) => chosen.has(r.key)).length} selected`;
  }
  return {
    element: h(
      "div",
      { class: "data-table" },
      h("div", { class: "pager" }, filter, h("label", { class: "check" }, flaggedOnly, " flagged only"), count),
      h("div", { class: "table-wrap" }, h("table", { class: "table", id: "data-table" }, h("thead", {}, head), body)),
    ),
    setRows(next) {
      rows = next;
      chosen.clear();
      draw();
    },
    rows: () => rows,
    selected: () => rows.filter((r) => chosen.has(r.key)),
    refresh: draw,
  };
}
