// Metrics over time (/api/metrics/series): latency, tokens, perplexity, feedback by default;
// any stored metric can be added. Bucket, window and grouping apply to every chart. Summary
// cards for the window sit above the charts; latency charts show each bucket's p50 and p95.
// Above them, the serving figures of the batching engines (queue, batch, time to first token, tokens/s).

import { lineChart, type Series } from "../../charts/line";
import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { errorBox, runJob } from "../../lib/job";
import type { SeriesPoint } from "../../lib/types";
import { loadSummary, PRESETS } from "./summary";
import { servingCard } from "./serving";

const DEFAULTS = ["latency_ms", "completion_tokens", "perplexity", "feedback"];
/** Skewed timings: their charts show each bucket's median and 95th percentile. */
const WITH_PERCENTILES = new Set(["latency_ms", "ttft_ms"]);
const UNIT_MS: Record<string, number> = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 };

/** The time range of a window spec (``last:7d``, ``2026-11-01..2026-11-15``), as the server reads
 * it, or undefined when the spec does not fix one (``version:v2``): the chart's x axis. */
export function windowRange(spec: string, now = Date.now()): [number, number] | undefined {
  let range: [number, number] | undefined;
  for (const part of spec.split(",").map((p) => p.trim())) {
    const last = /^last:\s*(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(part);
    if (last) range = [now - Number(last[1]) * UNIT_MS[last[2].toLowerCase()], now];
    else if (part.includes("..")) {
      const [a, b] = part.split("..").map((x) => x.trim());
      const at = (x: string, end: boolean): number => {
        const t = Date.parse(x.length === 10 ? `${x}T00:00:00Z` : /[zZ]|[+-]\d\d:?\d\d$/.test(x) ? x : `${x}Z`);
        return end && x.length === 10 ? t + UNIT_MS.d : t;
      };
      const start = a ? at(a, false) : NaN;
      const stop = b ? at(b, true) : now;
      if (Number.isFinite(start) && Number.isFinite(stop)) range = [start, stop];
    }
  }
  return range;
}

/** One series per group; each bucket is drawn at its middle, kept inside the window when the
 * window is shorter than a bucket (a day's bucket of a one-hour window sits in that hour). */
function toSeries(points: SeriesPoint[], bucketMs: number, window?: [number, number]): Series[] {
  const groups = new Map<string, Series>();
  for (const p of points) {
    const key = p.group ?? "";
    if (!groups.has(key)) groups.set(key, { name: key, points: [] });
    let t = Date.parse(p.bucket_start) + bucketMs / 2;
    if (window) t = Math.max(window[0], Math.min(window[1], t));
    groups.get(key)!.points.push({ t: new Date(t), mean: p.mean, min: p.min, max: p.max, count: p.count, p50: p.p50 ?? null, p95: p.p95 ?? null });
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
  const cards = h("div", { class: "stats", id: "metric-summary", "aria-label": "The window at a glance" });
  const charts = h("div", { class: "charts", id: "metric-charts" });
  let shown = [...DEFAULTS];
  const serving = servingCard();

  async function draw(): Promise<void> {
    void loadSummary(cards, windowInput.value.trim());
    void serving.refresh();
    const names = await runJob(status, "Loading metrics", (signal) => api<string[]>("/api/metrics", { signal }));
    if (!names) return;
    shown = shown.filter((m) => names.includes(m));
    setChildren(add, h("option", { value: "" }, "add a chart…"), names.filter((n) => !shown.includes(n)).map((n) => h("option", { value: n }, n)));
    const results = await runJob(status, "Loading series", (signal) =>
      Promise.allSettled(
        shown.map((metric) =>
          api<SeriesPoint[]>("/api/metrics/series", {
            query: { metric, bucket: Number(bucket.value), window: windowInput.value.trim(), group_by: groupBy.value, percentiles: WITH_PERCENTILES.has(metric) && !groupBy.value },
            signal,
          }),
        ),
      ),
    );
    if (!results) return;
    const domain = windowRange(windowInput.value.trim());
    const bucketMs = Number(bucket.value) * 1000;
    setChildren(
      charts,
      results.map((r, k) =>
        h(
          "figure",
          { class: "card chart-card", "data-metric": shown[k] },
          r.status === "fulfilled"
            ? lineChart(shown[k], toSeries(r.value, bucketMs, domain), undefined, undefined, { domain, bucketMs })
            : errorBox(`${shown[k]}: ${(r.reason as Error).message}`),
          h("button", { type: "button", class: "link small", onclick: () => ((shown = shown.filter((m) => m !== shown[k])), void draw()) }, "remove"),
        ),
      ),
    );
  }

  add.addEventListener("change", () => {
    if (add.value) shown.push(add.value);
    void draw();
  });
  const presets = h(
    "div",
    { class: "presets", role: "group", "aria-label": "Window presets" },
    PRESETS.map(([label, spec, seconds]) =>
      button(
        label,
        () => {
          windowInput.value = spec;
          bucket.value = String(seconds);
          void draw();
        },
        "secondary small preset",
      ),
    ),
  );
  const form = h(
    "form",
    { class: "panel filters", onsubmit: (e: Event) => (e.preventDefault(), void draw()) },
    h("div", { class: "field" }, h("span", { class: "field-label" }, "Window presets"), presets),
    field("Bucket", bucket),
    field("Window", windowInput, "last:7d, version:v2 or an ISO range a..b"),
    field("Group by", groupBy),
    field("Add chart", add),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), button("Refresh", () => void draw(), "secondary")),
  );
  void draw();
  return h("div", {}, form, serving.element, cards, status, charts);
}
