// A line chart over a categorical x axis (layers): one line per series, a dot per value with its
// exact figure on hover, and titles on both axes. Shares line.ts's drawing helpers and palette.

import { num } from "../lib/format";
import { el, PALETTE } from "./line";

export interface XYSeries {
  name: string;
  values: (number | null)[];
}

export interface XYOptions {
  xTitle: string;
  yTitle: string;
  /** Draw larger values lower (a rank: 1 = top at the top). */
  invert?: boolean;
  /** Fixed y range, e.g. [0, 1] for accuracies. */
  yRange?: [number, number];
}

function titles(svg: SVGSVGElement, o: XYOptions, width: number, height: number): void {
  const x = el("text", { x: width / 2, y: height - 4, "text-anchor": "middle", class: "tick axis-title" });
  x.textContent = o.xTitle;
  const y = el("text", { x: 12, y: height / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${height / 2})`, class: "tick axis-title" });
  y.textContent = o.yTitle;
  svg.append(x, y);
}

export function xyChart(title: string, xs: string[], series: XYSeries[], o: XYOptions, width = 520, height = 220): SVGSVGElement {
  const m = { l: 58, r: 14, t: 34, b: 40 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart xy-chart", "aria-label": `${title}: ${o.yTitle} by ${o.xTitle}` });
  const head = el("text", { x: m.l, y: 14, class: "chart-title" });
  head.textContent = title;
  svg.append(head);
  const ys = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  let [y0, y1] = o.yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (!ys.length) (y0 = 0), (y1 = 1);
  if (y0 === y1) (y0 -= 1), (y1 += 1);
  const X = (i: number): number => m.l + (xs.length > 1 ? i / (xs.length - 1) : 0.5) * (width - m.l - m.r);
  const frac = (v: number): number => (v - y0) / (y1 - y0);
  const Y = (v: number): number => m.t + (o.invert ? frac(v) : 1 - frac(v)) * (height - m.t - m.b);
  for (let k = 0; k <= 3; k++) {
    const v = y0 + ((y1 - y0) * k) / 3;
    svg.append(el("line", { x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v), class: "gridline" }));
    const t = el("text", { x: m.l - 4, y: Y(v) + 4, "text-anchor": "end", class: "tick" });
    t.textContent = num(v, 2);
    svg.append(t);
  }
  const step = Math.max(1, Math.ceil(xs.length / 12));
  xs.forEach((label, i) => {
    if (i % step && i !== xs.length - 1) return;
    const t = el("text", { x: X(i), y: height - m.b + 14, "text-anchor": "middle", class: "tick x-tick" });
    t.textContent = label;
    svg.append(t);
  });
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const pts = s.values.map((v, i) => [i, v] as const).filter((p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[1]));
    svg.append(el("path", { d: pts.map(([i, v], j) => `${j ? "L" : "M"}${X(i)},${Y(v)}`).join(""), fill: "none", stroke: color, "stroke-width": 1.8, "data-series": s.name }));
    for (const [i, v] of pts) {
      const dot = el("circle", { cx: X(i), cy: Y(v), r: 2.8, fill: color });
      const tip = el("title", {});
      tip.textContent = `${s.name} · ${o.xTitle} ${xs[i]}: ${num(v)}`;
      dot.append(tip);
      svg.append(dot);
    }
    const legend = el("text", { x: width - m.r - 110 * k, y: 26, "text-anchor": "end", fill: color, class: "tick legend-item" });
    legend.textContent = `● ${s.name}`;
    svg.append(legend);
  });
  titles(svg, o, width, height);
  return svg;
}
