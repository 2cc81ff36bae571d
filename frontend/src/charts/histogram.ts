// Two windows of one metric as overlaid histograms on shared bins: each bar is the bin's share
// of its window (so windows of different sizes compare), the reference filled grey, the current
// drawn as an outlined step in colour. Axis titles name the metric and the share.

import type { MetricHistogram } from "../lib/api-types.generated";
import { num } from "../lib/format";
import { el, PALETTE } from "./line";

function axisTitles(svg: SVGSVGElement, x: string, y: string, width: number, height: number): void {
  const xt = el("text", { x: width / 2, y: height - 2, "text-anchor": "middle", class: "tick axis-title" });
  xt.textContent = x;
  const yt = el("text", { x: 10, y: height / 2, "text-anchor": "middle", transform: `rotate(-90 10 ${height / 2})`, class: "tick axis-title" });
  yt.textContent = y;
  svg.append(xt, yt);
}

export function histogramChart(h: MetricHistogram, width = 360, height = 200): SVGSVGElement {
  const m = { l: 50, r: 10, t: 38, b: 36 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart histogram", "aria-label": `${h.metric}: reference and current distributions`, "data-metric": h.metric });
  const share = (counts: number[], n: number): number[] => counts.map((c) => (n ? c / n : 0));
  const ref = share(h.reference, h.reference_n);
  const cur = share(h.current, h.current_n);
  const top = Math.max(...ref, ...cur, 1e-9);
  const x0 = h.edges[0];
  const x1 = h.edges[h.edges.length - 1];
  const X = (v: number): number => m.l + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * (width - m.l - m.r);
  const Y = (v: number): number => height - m.b - (v / top) * (height - m.t - m.b);
  const title = el("text", { x: m.l, y: 14, class: "chart-title" });
  title.textContent = h.metric;
  svg.append(title);
  ref.forEach((v, i) => {
    const bar = el("rect", { x: X(h.edges[i]), y: Y(v), width: Math.max(0.5, X(h.edges[i + 1]) - X(h.edges[i]) - 0.5), height: Y(0) - Y(v), fill: "#9aa3b2", opacity: 0.6, class: "ref-bar" });
    const tip = el("title", {});
    tip.textContent = `${num(h.edges[i])}–${num(h.edges[i + 1])}: reference ${h.reference[i]} (${num(v * 100, 1)} %), current ${h.current[i]} (${num(cur[i] * 100, 1)} %)`;
    bar.append(tip);
    svg.append(bar);
  });
  const steps = cur.map((v, i) => `L${X(h.edges[i])},${Y(v)}H${X(h.edges[i + 1])}`).join("");
  svg.append(el("path", { d: `M${X(x0)},${Y(0)}${steps}V${Y(0)}`, fill: "none", stroke: PALETTE[1], "stroke-width": 1.8, class: "cur-step" }));
  svg.append(el("line", { x1: m.l, x2: width - m.r, y1: Y(0), y2: Y(0), class: "gridline" }));
  for (const [v, anchor] of [[x0, "start"], [(x0 + x1) / 2, "middle"], [x1, "end"]] as const) {
    const t = el("text", { x: X(v), y: height - m.b + 12, "text-anchor": anchor, class: "tick x-tick" });
    t.textContent = num(v, 2);
    svg.append(t);
  }
  const yTick = el("text", { x: m.l - 4, y: Y(top) + 4, "text-anchor": "end", class: "tick" });
  yTick.textContent = `${num(top * 100, 1)} %`;
  svg.append(yTick);
  const legend = el("text", { x: m.l, y: 28, class: "tick legend-item" });
  legend.innerHTML = `<tspan fill="#7a8394">■ reference (n=${h.reference_n})</tspan> <tspan fill="${PALETTE[1]}">— current (n=${h.current_n})</tspan>`;
  svg.append(legend);
  axisTitles(svg, h.metric, "share of window", width, height);
  return svg;
}
