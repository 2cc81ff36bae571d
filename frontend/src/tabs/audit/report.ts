// A finished audit: the summary table (status, score against threshold, key figures per check),
// the full HTML report in a sandboxed frame, and downloads of the report and the model card.
// Report and card are fetched with the API token (a plain link could not send it).

import { apiText } from "../../lib/api";
import { button, h, setChildren } from "../../lib/dom";
import { download } from "../../lib/download";
import { num } from "../../lib/format";
import { errorBox } from "../../lib/job";
import type { AuditJob, AuditReport, CheckResult } from "../../lib/types";

export function statusBadge(status: string): HTMLElement {
  const tone = status === "pass" || status === "done" ? "good" : status === "fail" || status === "error" || status === "failed" ? "bad" : status === "inconclusive" ? "warn" : "";
  return h("span", { class: `badge ${tone}`, "data-status": status }, status);
}

/** Up to four headline figures of a check: scalar metrics, and rates of nested ones. */
export function keyFigures(c: CheckResult): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(c.metrics)) {
    if (typeof value === "number") out.push(`${name.replace(/_/g, " ")} ${num(value)}`);
    else if (value && typeof value === "object" && typeof (value as Record<string, unknown>).rate === "number") {
      const v = value as { rate: number; n?: number };
      out.push(`${name.replace(/_/g, " ")} ${num(v.rate)}${typeof v.n === "number" ? ` (n=${v.n})` : ""}`);
    } else if (typeof value === "string" && value.length <= 40) out.push(`${name.replace(/_/g, " ")}: ${value}`);
    if (out.length === 4) break;
  }
  return out;
}

function summaryTable(report: AuditReport): HTMLElement {
  const head = ["Check", "Status", "Score", "Threshold", "Key figures", "Time", "Note"];
  return h(
    "table",
    { class: "table", id: "audit-summary" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      report.checks.map((c) =>
        h(
          "tr",
          { "data-check": c.check, "data-status": c.status },
          h("td", {}, h("b", {}, c.check), h("div", { class: "muted small" }, c.description)),
          h("td", {}, statusBadge(c.status)),
          h("td", { class: "num" }, num(c.score, 4)),
          h("td", { class: "num" }, c.threshold === null ? "–" : `${c.higher_is_worse ? "≤" : "≥"} ${num(c.threshold)}`),
          h("td", { class: "small" }, keyFigures(c).map((f) => h("div", {}, f))),
          h("td", { class: "num nowrap" }, `${num(c.seconds, 1)} s`),
          h("td", { class: "small" }, c.error ?? (c.limits[0] ? h("span", { class: "muted" }, c.limits[0]) : "")),
        ),
      ),
    ),
  );
}

export function reportView(job: AuditJob): HTMLElement {
  const report = job.report!;
  const status = h("div", { class: "status", id: "audit-report-status" });
  const frame = h("iframe", { id: "audit-report-frame", title: "Full audit report", sandbox: "", class: "report-frame" });
  const base = `/api/audit/jobs/${job.id}`;
  const safeName = report.model.replace(/[^A-Za-z0-9._-]+/g, "-");
  const fetchText = async (path: string): Promise<string | undefined> => {
    try {
      return await apiText(`${base}/${path}`);
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
      return undefined;
    }
  };
  const openReport = async (): Promise<void> => {
    const html = await fetchText("report.html");
    if (html === undefined) return;
    const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  const saveReport = async (): Promise<void> => {
    const html = await fetchText("report.html");
    if (html !== undefined) download(`audit-${safeName}.html`, html, "text/html");
  };
  const saveCard = async (): Promise<void> => {
    const card = await fetchText("card.md");
    if (card !== undefined) download("README.md", card, "text/markdown");
  };
  void fetchText("report.html").then((html) => {
    if (html !== undefined) frame.srcdoc = html;
  });
  const counts = Object.entries(report.summary).map(([k, v]) => h("span", { class: "count" }, statusBadge(k), ` ${v}`));
  return h(
    "div",
    { class: "card audit-report", id: "audit-report", "data-job": job.id },
    h("h3", {}, `Audit of ${report.model}`, report.model_version ? ` (${report.model_version})` : ""),
    h("p", { class: "audit-counts" }, counts, h("span", { class: "muted" }, ` · ${num(report.seconds, 1)} s · ${report.created}`)),
    summaryTable(report),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "primary", id: "audit-card", onclick: () => void saveCard() }, "Download model card"),
      button("Download report (HTML)", () => void saveReport(), "secondary"),
      button("Open the full report", () => void openReport(), "secondary"),
    ),
    status,
    h("details", { open: true }, h("summary", {}, "Full report"), frame),
  );
}
