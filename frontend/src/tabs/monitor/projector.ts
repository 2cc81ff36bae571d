// The embedding projector: stored prompt/response embeddings in 2-D (/api/projection), coloured
// by cluster, flag, model version, model, or any stored metric (a continuous scale with its
// range for metrics, categories for the rest). Hover for the text, click a point to open its
// record, shift-drag a lasso to list a group of records and open any of them. Search by text
// greys out the points whose text does not match and lists the matching records.

import { categoryColor, scatter, valueColor } from "../../charts/scatter";
import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, truncate } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { Projection, ProjectionPoint } from "../../lib/types";

type Value = string | number | null;
interface Coloring {
  colors: string[];
  legend: HTMLElement;
}

const BASE: [string, string][] = [
  ["cluster", "cluster"],
  ["flag", "flag"],
  ["model_version", "version"],
  ["model", "model"],
];
const MAX_LISTED = 200;

/** The colour-by choices the points support: value and label. */
export function colorChoices(points: ProjectionPoint[]): [string, string][] {
  const metrics = new Set<string>();
  for (const p of points) for (const k of Object.keys(p.metrics ?? {})) metrics.add(k);
  const base = BASE.filter(([key]) => key !== "cluster" || points.some((p) => p.cluster !== null));
  return [...base, ...[...metrics].sort().map((m): [string, string] => [`metric:${m}`, m])];
}

/** What a point shows for a colour-by choice. */
export function valueOf(p: ProjectionPoint, key: string): Value {
  if (key.startsWith("metric:")) return p.metrics?.[key.slice(7)] ?? null;
  if (key === "flag") return p.flags?.length ? p.flags.join(" + ") : "none";
  if (key === "cluster") return p.cluster;
  const v = p[key];
  return v === null || v === undefined || v === "" ? "(none)" : String(v);
}

function continuous(values: Value[], label: string): Coloring {
  const nums = values.filter((v): v is number => typeof v === "number");
  const lo = nums.length ? Math.min(...nums) : 0;
  const hi = nums.length ? Math.max(...nums) : 1;
  const colors = values.map((v) => (typeof v === "number" ? valueColor((v - lo) / (hi - lo || 1)) : "#bbb"));
  const missing = values.length - nums.length;
  const legend = h(
    "div",
    { class: "legend proj-legend", "data-kind": "continuous", "aria-label": `Colour scale for ${label}: ${num(lo)} to ${num(hi)}` },
    h("span", { class: "legend-title" }, label),
    h("span", { class: "legend-value" }, num(lo)),
    h("span", { class: "legend-bar", style: { background: `linear-gradient(to right, ${valueColor(0)}, ${valueColor(0.5)}, ${valueColor(1)})` } }),
    h("span", { class: "legend-value" }, num(hi)),
    missing ? h("span", { class: "legend-note" }, h("i", { class: "swatch-nan" }), `no value (${missing})`) : null,
  );
  return { colors, legend };
}

function categorical(values: Value[], label: string): Coloring {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  const cats = [...counts.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const colors = values.map((v) => categoryColor(cats.indexOf(String(v))));
  const legend = h(
    "div",
    { class: "legend-cats", "data-kind": "categorical" },
    cats.slice(0, 20).map((c, i) => h("span", { "data-category": c }, h("i", { style: { background: categoryColor(i) } }), `${label} ${c} (${counts.get(c)})`)),
  );
  return { colors, legend };
}

function coloring(points: ProjectionPoint[], key: string, label: string): Coloring {
  const values = points.map((p) => valueOf(p, key));
  return key.startsWith("metric:") ? continuous(values, label) : categorical(values, label);
}

export function projectorView(open: (id: string) => void): HTMLElement {
  const windowInput = h("input", { type: "text", id: "proj-window", placeholder: "all, last:7d, version:v2" });
  const method = h("select", { id: "proj-method" }, ["pca", "umap"].map((m) => h("option", { value: m }, m)));
  const fieldSel = h("select", { id: "proj-field" }, ["prompt", "response"].map((m) => h("option", { value: m }, m)));
  const clusters = h("input", { type: "number", id: "proj-clusters", min: 1, max: 100, value: "8" });
  const limit = h("input", { type: "number", id: "proj-limit", min: 3, max: 50000, value: "5000" });
  const colorBy = h("select", { id: "proj-color" });
  const search = h("input", { type: "search", id: "proj-search", placeholder: "text in the prompt or response", "aria-label": "Search points by text" });
  const status = h("div", { class: "status" });
  const plot = h("div", { id: "projector-plot" });
  const selection = h("div", { id: "proj-selection" });
  let data: Projection | null = null;

  function listSelected(indices: number[], title?: string): void {
    if (!data) return;
    const points = data.points;
    const key = colorBy.value || "cluster";
    const label = colorBy.selectedOptions[0]?.textContent ?? key;
    if (!indices.length) return void setChildren(selection, h("p", { class: "muted" }, title ? `${title}.` : "No points inside the lasso."));
    const row = (p: ProjectionPoint): HTMLElement => {
      const v = valueOf(p, key);
      return h(
        "tr",
        { "data-id": p.id, tabIndex: 0, onclick: () => open(p.id), onkeydown: (e: KeyboardEvent) => e.key === "Enter" && open(p.id) },
        h("td", {}, truncate(p.text ?? p.id, 100)),
        h("td", {}, p.model_version ?? "–"),
        h("td", {}, p.model ?? "–"),
        h("td", { class: typeof v === "number" ? "num" : "" }, typeof v === "number" ? num(v) : String(v ?? "–")),
        h("td", {}, button("Open", (e) => (e.stopPropagation(), open(p.id)), "secondary small")),
      );
    };
    setChildren(
      selection,
      h("h4", {}, title ?? `${indices.length} records selected`, indices.length > MAX_LISTED ? ` (the first ${MAX_LISTED} listed)` : ""),
      h(
        "div",
        { class: "table-wrap selection-wrap" },
        h(
          "table",
          { class: "table" },
          h("thead", {}, h("tr", {}, ["Text", "Version", "Model", label, ""].map((c) => h("th", {}, c)))),
          h("tbody", {}, indices.slice(0, MAX_LISTED).map((i) => row(points[i]))),
        ),
      ),
    );
  }

  /** The plot fits its column, which narrows when a record opens beside it. */
  const plotWidth = (): number => Math.max(300, Math.min(760, plot.clientWidth - 4));
  let drawnWidth = 0;

  function draw(keepSelection = false): void {
    if (!data) return;
    const points = data.points;
    const key = colorBy.value || "cluster";
    const label = colorBy.selectedOptions[0]?.textContent ?? key;
    const { colors, legend } = coloring(points, key, label);
    const query = search.value.trim().toLowerCase();
    const matches = query ? points.flatMap((p, i) => ((p.text ?? "").toLowerCase().includes(query) ? [i] : [])) : [];
    if (query) {
      const hit = new Set(matches);
      colors.forEach((_, i) => hit.has(i) || (colors[i] = "#dfe3ea"));
    }
    const view = scatter(
      points.map((p, i) => {
        const v = valueOf(p, key);
        return { x: p.x, y: p.y, color: colors[i], label: `${label} ${typeof v === "number" ? num(v) : String(v)} · ${truncate(p.text ?? p.id, 160)}` };
      }),
      { width: plotWidth(), onPick: (i) => open(points[i].id), onLasso: listSelected },
    );
    drawnWidth = plotWidth();
    view.dataset.color = key;
    view.dataset.matches = String(matches.length);
    const explained = Array.isArray(data.explained_variance) ? ` · variance kept: ${(data.explained_variance as (number | null)[]).map((v) => (v === null ? "–" : `${(v * 100).toFixed(1)}%`)).join(", ")}` : "";
    setChildren(
      plot,
      h("p", { class: "muted" }, `${points.length} ${data.field} embeddings (${data.method})${explained}. Hover for the text, click to open the record, shift-drag to lasso a group; wheel to zoom, drag to pan, 0 to reset.`),
      view,
      legend,
    );
    if (query) listSelected(matches, `${matches.length} points match “${search.value.trim()}”`);
    else if (!keepSelection) setChildren(selection);
  }
  let typing = 0;
  search.addEventListener("keydown", (e) => e.key === "Enter" && (e.preventDefault(), draw())); // not a new projection
  search.addEventListener("input", () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => draw(), 200);
  });
  new ResizeObserver(() => {
    if (data && Math.abs(plotWidth() - drawnWidth) > 24) draw(true);
  }).observe(plot);

  async function load(): Promise<void> {
    const query = { window: windowInput.value.trim(), method: method.value, field: fieldSel.value, clusters: Number(clusters.value) || null, limit: Number(limit.value) || 5000 };
    const result = await runJob(status, "Projecting embeddings", (signal, headers) => api<Projection>("/api/projection", { query, signal, headers }));
    if (!result) return;
    data = result;
    const previous = colorBy.value;
    const choices = colorChoices(result.points);
    setChildren(colorBy, choices.map(([value, label]) => h("option", { value }, label)));
    if (choices.some(([value]) => value === previous)) colorBy.value = previous;
    draw();
  }
  colorBy.addEventListener("change", () => draw());
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
      field("Search", search),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "proj-run" }, "Project")),
    ),
    status,
    plot,
    selection,
  );
}
