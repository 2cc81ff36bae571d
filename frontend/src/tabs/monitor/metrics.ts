// Metrics over time (/api/metrics/series): latency, tokens, perplexity, feedback by default;
// any stored metric can be added. Bucket, window and grouping apply to every chart. Above them,
// the serving figures of the batching engines (queue, batch, time to first token, tokens/s).

import { lineChart, type Series } from "../../charts/line";
import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { errorBox, runJob } from "../../lib/job";
import type { SeriesPoint } from "../../lib/types";
import { servingCard } from "./serving";

const DEFAULTS = ["latency_ms", "completion_tokens", "perplexity", "feedback"];

function toSeries(points: SeriesPoint[]): Series[] {
  const groups = new Map<string, Series>();
  for (const p of points) {
    const key = p.group ?? "";
    if (!groups.has(key)) groups.set(key, { name: key, points: [] });
    groups.get(key)!.points.push({ t: new Date(p.bucket_start), mean: p.mean, min: p.min, max: p.max, count: p.count });
  }
  return [...groups.values()];
}

export function metricsView(): HTMLElement {
  const bucket = h(
    "select",
    { id: "met-bucket" },
    [["60", "minute"], ["3600", "hour"], ["86400", "day"]].map(([v, l]) => h("option", { value: v, selected: v === "3600" }, l)),
  );
  const windowInput = h("input", { type: "text", id: "met-window", value: "last:7d", placeholder: "last:7d, version:v2, 2026-11-01..2026-11-15" });
  const groupBy = h("select", { id: "met-group" }, ["", "model", "model_version", "template_version", "language"].map((g) => h("option", { value: g }, g || "(none)")));
  const add = h("select", { id: "met-add", "aria-label": "Add a metric chart" });
  const status = h("div", { class: "status" });
  const charts = h("div", { class: "charts", id: "metric-charts" });
  let shown = [...DEFAULTS];
  const serving = servingCard();

  async function draw(): Promise<void> {
    void serving.refresh();
    const names = await runJob(status, "Loading metrics", (signal) => api<string[]>("/api/metrics", { signal }));
    if (!names) return;
    shown = shown.filter((m) => names.includes(m));
    setChildren(add, h("option", { value: "" }, "add a chart…"), names.filter((n) => !shown.includes(n)).map((n) => h("option", { value: n }, n)));
    const results = await runJob(status, "Loading series", (signal) =>
      Promise.allSettled(
        shown.map((metric) =>
          api<SeriesPoint[]>("/api/metrics/series", {
            query: { metric, bucket: Number(bucket.value), window: windowInput.value.trim(), group_by: groupBy.value },
            signal,
          }),
        ),
      ),
    );
    if (!results) return;
    setChildren(
      charts,
      results.map((r, k) =>
        h(
          "figure",
          { class: "card chart-card", "data-metric": shown[k] },
          r.status === "fulfilled" ? lineChart(shown[k], toSeries(r.value)) : errorBox(`${shown[k]}: ${(r.reason as Error).message}`),
          h("button", { type: "button", class: "link small", onclick: () => ((shown = shown.filter((m) => m !== shown[k])), void draw()) }, "remove"),
        ),
      ),
    );
  }

  add.addEventListener("change", () => {
    if (add.value) shown.push(add.value);
    void draw();
  });
  const form = h(
    "form",
    { class: "panel filters", onsubmit: (e: Event) => (e.preventDefault(), void draw()) },
    field("Bucket", bucket),
    field("Window", windowInput, "last:7d, version:v2 or an ISO range a..b"),
    field("Group by", groupBy),
    field("Add chart", add),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), button("Refresh", () => void draw(), "secondary")),
  );
  void draw();
  return h("div", {}, form, serving.element, status, charts);
}
