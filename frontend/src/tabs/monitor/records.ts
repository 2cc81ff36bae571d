// The records table: filters (time, model, version, tag, flag, feedback, text, stored feature), server-side
// pages with the cursor (a stack of cursors for "previous"), columns sorted by the server (click a header), a
// column chooser, export of every filtered row (CSV or Parquet), and a click on a row to open the record.
// #monitor/records?feature=NAME:ID (a Features link) opens it filtered by that feature.

import { api, apiBlob } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { download } from "../../lib/download";
import { runJob } from "../../lib/job";
import { hashParams, hashRoute } from "../../lib/urlstate";
import type { RecordPage } from "../../lib/types";
import { COLUMNS, columnChooser, headerCell, readState, writeState } from "./record-columns";

function iso(local: string): string | null {
  return local ? new Date(local).toISOString() : null;
}

export function recordsView(open: (id: string) => void): HTMLElement {
  const since = h("input", { type: "datetime-local", id: "rec-since" });
  const until = h("input", { type: "datetime-local", id: "rec-until" });
  const model = h("input", { type: "text", id: "rec-model", placeholder: "any" });
  const version = h("input", { type: "text", id: "rec-version", placeholder: "any" });
  const tag = h("input", { type: "text", id: "rec-tag", placeholder: "any" });
  const flag = h("input", { type: "text", id: "rec-flag", placeholder: "any", list: "rec-flag-names" });
  const flagNames = h(
    "datalist",
    { id: "rec-flag-names" },
    ["empty_prompt", "empty_response", "long_prompt", "control_characters", "broken_encoding", "duplicate_prompt", "language_mismatch", "toxic_prompt", "toxic_response", "pii_in_prompt", "pii_in_response"].map(
      (f) => h("option", { value: f }),
    ),
  );
  const feedback = h(
    "select",
    { id: "rec-feedback" },
    ["", "any", "none", "thumbs_up", "thumbs_down", "score", "comment"].map((v) => h("option", { value: v }, v || "(all)")),
  );
  const q = h("input", { type: "search", id: "rec-q", placeholder: "text in prompt or response" });
  const feature = h("input", { type: "text", id: "rec-feature", placeholder: "dictionary:id", value: hashParams().get("feature") ?? "" });
  const limit = h("select", { id: "rec-limit" }, [25, 50, 100, 200].map((n) => h("option", { value: n, selected: n === 50 }, String(n))));
  const status = h("div", { class: "status" });
  const tbody = h("tbody");
  const info = h("span", { class: "muted", id: "rec-info" });
  const prev = button("← Previous", () => void load(cursors.length - 2), "secondary small");
  const next = button("Next →", () => void load(cursors.length), "secondary small");
  let cursors: (string | null)[] = [null]; // cursors[k] fetches page k
  let nextCursor: string | null = null;
  let total: number | null = null;
  const state = readState();
  const head = h("tr");
  const chooserHost = h("span");
  let lastItems: RecordPage["items"] = [];

  /** The filters of the form, as query parameters (the listing's and the export's). */
  const filters = (): Record<string, string | null> => ({
    since: iso(since.value),
    until: iso(until.value),
    model: model.value.trim(),
    model_version: version.value.trim(),
    tag: tag.value.trim(),
    flag: flag.value.trim(),
    feedback: feedback.value,
    q: q.value.trim(),
    feature: feature.value.trim(),
    sort: state.sort,
    order: state.sort ? state.order : null,
  });
  const drawHead = (): void => {
    setChildren(head, COLUMNS.filter((c) => state.cols.includes(c.id)).map((c) => headerCell(c, state, sortBy)));
  };
  const drawRows = (): void => {
    const shown = COLUMNS.filter((c) => state.cols.includes(c.id));
    setChildren(
      tbody,
      lastItems.map((r) =>
        h("tr", { tabIndex: 0, "data-id": r.id, onclick: () => open(r.id), onkeydown: (e: KeyboardEvent) => e.key === "Enter" && open(r.id) }, shown.map((c) => c.cell(r))),
      ),
    );
  };
  /** A header click: a new column sorts ascending, the same one flips the direction. */
  function sortBy(sort: string): void {
    state.order = state.sort === sort && state.order === "asc" ? "desc" : "asc";
    state.sort = sort;
    writeState(state);
    drawHead();
    reload();
  }
  async function exportRows(format: "csv" | "parquet"): Promise<void> {
    const blob = await runJob(status, `Exporting ${format.toUpperCase()}`, (signal) => apiBlob("/api/records/export", { query: { ...filters(), format }, signal }));
    if (blob) download(`pellucid-records.${format}`, blob, blob.type);
  }

  async function load(pageIndex: number): Promise<void> {
    if (pageIndex < 0) return;
    if (pageIndex === cursors.length) {
      if (!nextCursor) return;
      cursors.push(nextCursor);
    }
    cursors = cursors.slice(0, pageIndex + 1);
    const query = {
      ...filters(),
      limit: Number(limit.value),
      cursor: cursors[pageIndex],
      with_total: pageIndex === 0,
    };
    const page = await runJob(status, "Loading records", (signal) => api<RecordPage>("/api/records", { query, signal }));
    if (!page) return;
    if (pageIndex === 0) total = page.total;
    nextCursor = page.next_cursor;
    prev.disabled = pageIndex === 0;
    next.disabled = !nextCursor;
    const first = pageIndex * Number(limit.value);
    info.textContent = page.items.length
      ? `${first + 1}–${first + page.items.length}${total !== null ? ` of ${total}` : ""}`
      : "No records match these filters.";
    lastItems = page.items;
    drawRows();
  }

  const reload = (): void => {
    cursors = [null];
    nextCursor = null;
    void load(0);
  };
  const form = h(
    "form",
    { class: "panel filters", onsubmit: (e: Event) => (e.preventDefault(), reload()) },
    field("From", since),
    field("To", until),
    field("Model", model),
    field("Version", version),
    field("Tag", tag),
    field("Flag", flag),
    flagNames,
    field("Feedback", feedback),
    field("Search", q),
    field("Feature", feature, "Records whose stored features include it: dictionary:id"),
    field("Per page", limit),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "rec-apply" }, "Apply")),
  );
  drawHead();
  setChildren(chooserHost, columnChooser(state, (cols) => ((state.cols = cols), writeState(state), drawHead(), drawRows())));
  reload();
  // a Features link to this view (…?feature=NAME:ID) filters it, also when the view is already built
  window.addEventListener("hashchange", () => {
    const wanted = hashParams().get("feature");
    if (hashRoute() === "monitor/records" && wanted !== null && wanted !== feature.value) {
      feature.value = wanted;
      reload();
    }
  });
  return h(
    "div",
    { class: "records" },
    form,
    status,
    h(
      "div",
      { class: "pager" },
      prev,
      info,
      next,
      button("Refresh", reload, "secondary small"),
      chooserHost,
      button("Export CSV", () => void exportRows("csv"), "secondary small"),
      button("Export Parquet", () => void exportRows("parquet"), "secondary small"),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "table", id: "records-table" },
        h("thead", {}, head),
        tbody,
      ),
    ),
  );
}
