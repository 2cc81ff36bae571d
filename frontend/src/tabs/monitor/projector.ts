// The embedding projector: stored prompt/response embeddings in 2-D (/api/projection), coloured
// by cluster or any other field the points carry; hover for the text, click to open the record.

import { categoryColor, scatter, valueColor } from "../../charts/scatter";
import { api } from "../../lib/api";
import { field, h, setChildren } from "../../lib/dom";
import { truncate } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { Projection, ProjectionPoint } from "../../lib/types";

const SKIP = new Set(["id", "x", "y", "text"]);

function colorFields(points: ProjectionPoint[]): string[] {
  const keys = new Set<string>();
  for (const p of points.slice(0, 50)) for (const k of Object.keys(p)) if (!SKIP.has(k)) keys.add(k);
  return [...keys];
}

function colorsBy(points: ProjectionPoint[], key: string): { colors: string[]; legend: [string, string][] } {
  const values = points.map((p) => p[key]);
  if (values.every((v) => typeof v === "number" || v === null) && new Set(values).size > 12) {
    const nums = values.filter((v): v is number => typeof v === "number");
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    return { colors: values.map((v) => (typeof v === "number" ? valueColor((v - lo) / (hi - lo || 1)) : "#bbb")), legend: [[`${key} low`, valueColor(0)], [`${key} high`, valueColor(1)]] };
  }
  const cats = [...new Set(values.map((v) => String(v)))].sort();
  return { colors: values.map((v) => categoryColor(cats.indexOf(String(v)))), legend: cats.slice(0, 20).map((c, i) => [`${key} ${c}`, categoryColor(i)]) };
}

export function projectorView(open: (id: string) => void): HTMLElement {
  const windowInput = h("input", { type: "text", id: "proj-window", placeholder: "all, last:7d, version:v2" });
  const method = h("select", { id: "proj-method" }, ["pca", "umap"].map((m) => h("option", { value: m }, m)));
  const fieldSel = h("select", { id: "proj-field" }, ["prompt", "response"].map((m) => h("option", { value: m }, m)));
  const clusters = h("input", { type: "number", id: "proj-clusters", min: 1, max: 100, value: "8" });
  const limit = h("input", { type: "number", id: "proj-limit", min: 3, max: 50000, value: "5000" });
  const colorBy = h("select", { id: "proj-color" });
  const status = h("div", { class: "status" });
  const plot = h("div", { id: "projector-plot" });
  let data: Projection | null = null;

  function draw(): void {
    if (!data) return;
    const points = data.points;
    const { colors, legend } = colorsBy(points, colorBy.value || "cluster");
    const view = scatter(
      points.map((p, i) => ({ x: p.x, y: p.y, color: colors[i], label: `${colorBy.value || "cluster"} ${String(p[colorBy.value || "cluster"])} · ${truncate(p.text ?? p.id, 160)}` })),
      { onPick: (i) => open(points[i].id) },
    );
    const explained = Array.isArray(data.explained_variance) ? ` · variance kept: ${(data.explained_variance as (number | null)[]).map((v) => (v === null ? "–" : `${(v * 100).toFixed(1)}%`)).join(", ")}` : "";
    setChildren(
      plot,
      h("p", { class: "muted" }, `${points.length} ${data.field} embeddings (${data.method})${explained}. Hover for the text, click to open the record; wheel to zoom, drag to pan, 0 to reset.`),
      view,
      h("div", { class: "legend-cats" }, legend.map(([label, color]) => h("span", {}, h("i", { style: { background: color } }), label))),
    );
  }

  async function load(): Promise<void> {
    const query = { window: windowInput.value.trim(), method: method.value, field: fieldSel.value, clusters: Number(clusters.value) || null, limit: Number(limit.value) || 5000 };
    const result = await runJob(status, "Projecting embeddings", (signal) => api<Projection>("/api/projection", { query, signal }));
    if (!result) return;
    data = result;
    const keys = colorFields(result.points);
    setChildren(colorBy, keys.map((k) => h("option", { value: k }, k)));
    draw();
  }
  colorBy.addEventListener("change", draw);
  return h(
    "div",
    {},
    h(
      "form",
      { class: "panel filters", onsubmit: (e: Event) => (e.preventDefault(), void load()) },
      field("Window", windowInput),
      field("Embedding", fieldSel),
      field("Method", method),
      field("Clusters", clusters),
      field("Max points", limit),
      field("Colour by", colorBy),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "proj-run" }, "Project")),
    ),
    status,
    plot,
  );
}
