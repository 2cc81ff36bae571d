// The records table: filters (time, model, version, tag, flag, feedback, text, stored feature), server-side
// pages with the cursor (a stack of cursors for "previous"), and a click on a row to open the record.
// #monitor/records?feature=NAME:ID (a Features link) opens it filtered by that feature.

import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, time, truncate } from "../../lib/format";
import { runJob } from "../../lib/job";
import { hashParams, hashRoute } from "../../lib/urlstate";
import type { RecordItem, RecordPage } from "../../lib/types";

function feedbackCell(r: RecordItem): string {
  if (!r.feedback?.length) return "";
  return r.feedback.map((f) => (f.kind === "thumbs_up" ? "▲" : f.kind === "thumbs_down" ? "▼" : f.kind === "score" ? `★${num(f.value)}` : "✎")).join(" ");
}

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
  const prev = button("← Newer", () => void load(cursors.length - 2), "secondary small");
  const next = button("Older →", () => void load(cursors.length), "secondary small");
  let cursors: (string | null)[] = [null]; // cursors[k] fetches page k
  let nextCursor: string | null = null;
  let total: number | null = null;

  async function load(pageIndex: number): Promise<void> {
    if (pageIndex < 0) return;
    if (pageIndex === cursors.length) {
      if (!nextCursor) return;
      cursors.push(nextCursor);
    }
    cursors = cursors.slice(0, pageIndex + 1);
    const query = {
      since: iso(since.value),
      until: iso(until.value),
      model: model.value.trim(),
      model_version: version.value.trim(),
      tag: tag.value.trim(),
      flag: flag.value.trim(),
      feedback: feedback.value,
      q: q.value.trim(),
      feature: feature.value.trim(),
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
    setChildren(
      tbody,
      page.items.map((r) =>
        h(
          "tr",
          { tabIndex: 0, "data-id": r.id, onclick: () => open(r.id), onkeydown: (e: KeyboardEvent) => e.key === "Enter" && open(r.id) },
          h("td", { class: "nowrap" }, time(r.created_at)),
          h("td", {}, r.model ?? ""),
          h("td", { title: r.prompt_text }, truncate(r.prompt_text, 80)),
          h("td", { title: r.response ?? "" }, r.error ? h("span", { class: "bad" }, truncate(r.error, 60)) : truncate(r.response ?? "", 80)),
          h("td", { class: "num" }, num(r.latency_ms, 0)),
          h("td", { class: "num" }, `${r.prompt_tokens ?? "–"} / ${r.completion_tokens ?? "–"}`),
          h("td", {}, (r.tags ?? []).join(", ")),
          h("td", {}, feedbackCell(r)),
        ),
      ),
    );
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
    h("div", { class: "pager" }, prev, info, next, button("Refresh", reload, "secondary small")),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "table", id: "records-table" },
        h("thead", {}, h("tr", {}, ["Time", "Model", "Prompt", "Response", "Latency ms", "Tokens in/out", "Tags", "Feedback"].map((c) => h("th", { scope: "col" }, c)))),
        tbody,
      ),
    ),
  );
}
