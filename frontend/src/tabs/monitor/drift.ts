// Drift reports: the saved ones with their verdicts (open one for each check's figures), and a
// form to run a new comparison between two windows.

import { histogramChart } from "../../charts/histogram";
import { api } from "../../lib/api";
import type { DriftDistributions } from "../../lib/api-types.generated";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, time } from "../../lib/format";
import { runJob } from "../../lib/job";
import { hashParams, hashRoute, setHashState } from "../../lib/urlstate";
import type { DriftReportInfo, DriftRun } from "../../lib/types";

function verdict(drifted: boolean): HTMLElement {
  return h("span", { class: `badge ${drifted ? "bad" : "good"}` }, drifted ? "drift" : "no drift");
}

function resultsTable(report: DriftReportInfo): HTMLElement {
  const rows = report.report?.results ?? [];
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, ["Feature", "Detector", "Statistic", "p-value", "Threshold", "Verdict"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h("tr", {}, h("td", {}, r.feature), h("td", {}, r.detector), h("td", { class: "num" }, num(r.statistic)), h("td", { class: "num" }, num(r.p_value)), h("td", { class: "num" }, num(r.threshold)), h("td", {}, verdict(r.drifted), " ", r.verdict)),
      ),
    ),
  );
}

export function driftView(): HTMLElement {
  const status = h("div", { class: "status" });
  const list = h("div", { id: "drift-list" });
  const detail = h("div", { id: "drift-detail" });
  const reference = h("input", { type: "text", id: "drift-ref", value: "last:14d", required: true });
  const current = h("input", { type: "text", id: "drift-cur", value: "last:1d", required: true });
  const name = h("input", { type: "text", id: "drift-name", placeholder: "optional" });

  async function open(id: string): Promise<void> {
    const r = await runJob(status, "Loading the report", (signal) => api<DriftReportInfo>(`/api/drift/reports/${id}`, { signal }));
    if (!r) return;
    const charts = h("div", { class: "drift-dists", id: "drift-dists", "aria-label": "Distributions of both windows" });
    setChildren(
      detail,
      h("div", { class: "card", "data-report": r.id }, h("h4", {}, r.name ?? r.id.slice(0, 8), " ", verdict(r.drifted)), h("p", {}, r.verdict), h("div", { class: "drift-detail" }, resultsTable(r), charts)),
    );
    void distributions(r, charts);
    setHashState("monitor/drift", { ...Object.fromEntries(hashParams()), report: r.id }); // a link to this comparison
  }

  /** The report's two windows as overlaid histograms, one per scalar metric, beside its table. */
  async function distributions(r: DriftReportInfo, host: HTMLElement): Promise<void> {
    const query = { reference: r.reference, current: r.current };
    const d = await api<DriftDistributions>("/api/drift/distributions", { query }).catch((e: Error) => e);
    if (d instanceof Error) return void setChildren(host, h("p", { class: "muted" }, `No distributions: ${d.message}`));
    setChildren(
      host,
      h("p", { class: "muted small" }, `Reference: ${d.reference} · current: ${d.current}`),
      d.metrics.length ? d.metrics.map((m) => histogramChart(m)) : h("p", { class: "muted" }, "No scalar metric has values in both windows."),
    );
  }

  async function load(): Promise<void> {
    const reports = await runJob(status, "Loading drift reports", (signal) => api<DriftReportInfo[]>("/api/drift/reports", { signal }));
    if (!reports) return;
    setChildren(
      list,
      reports.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, ["Created", "Name", "Reference", "Current", "Verdict", ""].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              reports.map((r) =>
                h("tr", {}, h("td", {}, time(r.created_at)), h("td", {}, r.name ?? ""), h("td", {}, r.reference), h("td", {}, r.current), h("td", {}, verdict(r.drifted), " ", r.verdict), h("td", {}, button("Open", () => void open(r.id), "secondary small"))),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No drift reports yet: run one with the form above (or `pellucid monitor drift`)."),
    );
  }

  async function run(): Promise<void> {
    const body = { reference: reference.value, current: current.value, name: name.value || null };
    const r = await runJob(status, "Running drift checks", (signal) => api<DriftRun>("/api/drift/reports", { body, signal }));
    if (r) {
      await load();
      if (r.id) void open(r.id);
    }
  }

  void load();
  const linked = hashRoute() === "monitor/drift" ? hashParams().get("report") : null;
  if (linked) void open(linked);
  return h(
    "div",
    {},
    h(
      "form",
      { class: "panel filters", onsubmit: (e: Event) => (e.preventDefault(), void run()) },
      field("Reference window", reference, "last:30d, version:v1, or a..b"),
      field("Current window", current),
      field("Name", name),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Run drift report")),
    ),
    status,
    list,
    detail,
  );
}
