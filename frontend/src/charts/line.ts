// A small SVG time-series chart: one line per group (mean per bucket), a min–max band for a
// single group, hover dots with exact values. The x axis spans the chosen window when it is
// known (``domain``), so one bucket sits where it belongs in time, not at the left edge.

import { num, shortTime } from "../lib/format";

export interface Series {
  name: string;
  points: { t: Date; mean: number | null; min: number | null; max: number | null; count: number; p50?: number | null; p95?: number | null }[];
}

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

export function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export interface LineOptions {
  /** The window shown on the x axis (ms since the epoch); the data's own range when absent. */
  domain?: [number, number];
  /** The bucket length (ms): a single bucket without a domain gets this much room either side. */
  bucketMs?: number;
}

/** The x range: the window, widened to hold every point; one instant gets room either side. */
export function timeDomain(ts: number[], opts: LineOptions = {}): [number, number] {
  let t0 = Math.min(...ts, opts.domain?.[0] ?? Infinity);
  let t1 = Math.max(...ts, opts.domain?.[1] ?? -Infinity);
  if (t1 - t0 < 1000) {
    const half = (opts.bucketMs ?? 3_600_000) / 2;
    (t0 -= half), (t1 += half);
  }
  return [t0, t1];
}

/** Each bucket's median (dashed) and 95th percentile (dotted), with their names at the right. */
function percentileLines(svg: SVGSVGElement, pts: Series["points"], X: (t: number) => number, Y: (v: number) => number): void {
  for (const [key, dash] of [["p50", "5 3"], ["p95", "2 3"]] as const) {
    const line = pts.filter((p) => p[key] !== null && p[key] !== undefined);
    if (!line.length) continue;
    const d = line.map((p, i) => `${i ? "L" : "M"}${X(p.t.getTime())},${Y(p[key]!)}`).join("");
    svg.append(el("path", { d, stroke: "#444", "stroke-width": 1.2, "stroke-dasharray": dash, class: `percentile ${key}`, "data-percentile": key }));
    const last = line[line.length - 1];
    const label = el("text", { x: X(last.t.getTime()) - 4, y: Y(last[key]!) - 4, "text-anchor": "end", class: "tick" });
    label.textContent = key;
    svg.append(label);
  }
}

export function lineChart(title: string, series: Series[], width = 460, height = 190, opts: LineOptions = {}): SVGSVGElement {
  const m = { l: 52, r: 12, t: 32, b: 26 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
  const all = series.flatMap((s) => s.points);
  const one = series.length === 1;
  const ys = all
    .flatMap((p) => [p.mean, one ? p.min : null, one ? p.max : null, one ? (p.p95 ?? null) : null])
    .filter((v): v is number => v !== null && Number.isFinite(v));
  const ts = all.map((p) => p.t.getTime());
  const header = el("text", { x: m.l, y: 14, class: "chart-title" });
  header.textContent = title;
  svg.append(header);
  if (!ys.length) {
    const t = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted" });
    t.textContent = "no data in this window";
    svg.append(t);
    return svg;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (y0 === y1) (y0 -= 1), (y1 += 1);
  const [t0, t1] = timeDomain(ts, opts);
  const X = (t: number) => m.l + ((t - t0) / (t1 - t0)) * (width - m.l - m.r);
  const Y = (v: number) => height - m.b - ((v - y0) / (y1 - y0)) * (height - m.t - m.b);
  for (let k = 0; k <= 3; k++) {
    const v = y0 + ((y1 - y0) * k) / 3;
    svg.append(el("line", { x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: "gridline" }));
    const label = el("text", { x: m.l - 4, y: Y(v) + 4, "text-anchor": "end", class: "tick" });
    label.textContent = num(v, 2);
    svg.append(label);
  }
  let previous = "";
  for (const k of [0, 0.5, 1]) {
    const t = t0 + (t1 - t0) * k;
    const text = shortTime(new Date(t));
    if (text === previous) continue; // a short window: no repeated labels
    previous = text;
    const label = el("text", { x: X(t), y: height - 8, "text-anchor": k === 0 ? "start" : k === 1 ? "end" : "middle", class: "tick x-tick" });
    label.textContent = text;
    svg.append(label);
  }
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const pts = s.points.filter((p) => p.mean !== null);
    if (series.length === 1) {
      const band = pts.filter((p) => p.min !== null && p.max !== null);
      if (band.length > 1) {
        const d = band.map((p, i) => `${i ? "L" : "M"}${X(p.t.getTime())},${Y(p.max!)}`).join("") + band.slice().reverse().map((p) => `L${X(p.t.getTime())},${Y(p.min!)}`).join("") + "Z";
        svg.append(el("path", { d, fill: color, opacity: 0.12 }));
      }
    }
    const d = pts.map((p, i) => `${i ? "L" : "M"}${X(p.t.getTime())},${Y(p.mean!)}`).join("");
    svg.append(el("path", { d, fill: "none", stroke: color, "stroke-width": 1.8 }));
    if (series.length === 1) percentileLines(svg, pts, X, Y);
    for (const p of pts) {
      const dot = el("circle", { cx: X(p.t.getTime()), cy: Y(p.mean!), r: 2.6, fill: color });
      const tip = el("title", {});
      const tails = p.p50 !== undefined && p.p50 !== null ? `, p50 ${num(p.p50)}, p95 ${num(p.p95)}` : "";
      tip.textContent = `${s.name ? s.name + " · " : ""}${p.t.toLocaleString()}: mean ${num(p.mean)} (min ${num(p.min)}, max ${num(p.max)}${tails}, n=${p.count})`;
      dot.append(tip);
      svg.append(dot);
    }
  });
  if (series.length > 1) {
    let x = width - m.r;
    series.forEach((s, k) => {
      const name = s.name || "(none)";
      const t = el("text", { x, y: 14, "text-anchor": "end", fill: PALETTE[k % PALETTE.length], class: "tick legend-item" });
      t.textContent = `● ${name}`;
      svg.append(t);
      x -= 6.5 * (name.length + 2) + 10;
    });
  }
  return svg;
}
