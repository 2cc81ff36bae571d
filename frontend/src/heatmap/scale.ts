// Colour scales: diverging blue–white–red around 0 for signed scores, sequential white→red
// (min..max) for unsigned ones. NaN / null means "not computed" and gets no colour.

import { h } from "../lib/dom";
import { num } from "../lib/format";

export interface Scale {
  signed: boolean;
  lo: number;
  hi: number;
  /** Position in [-1, 1] (signed) or [0, 1] (unsigned); null when not computed. */
  t(v: number | null | undefined): number | null;
  color(v: number | null | undefined): string | null;
  /** Whether dark text reads on this value's background. */
  dark(v: number | null | undefined): boolean;
}

const RED: [number, number, number] = [198, 40, 40];
const BLUE: [number, number, number] = [30, 100, 190];

function mix(c: [number, number, number], a: number): string {
  const ch = c.map((x) => Math.round(255 + (x - 255) * a));
  return `rgb(${ch[0]},${ch[1]},${ch[2]})`;
}

export function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

export function flatFinite(values: unknown): number[] {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (finite(v)) out.push(v);
  };
  walk(values);
  return out;
}

export function makeScale(values: unknown, signed: boolean): Scale {
  const flat = flatFinite(values);
  let lo = flat.length ? Math.min(...flat) : 0;
  let hi = flat.length ? Math.max(...flat) : 1;
  // Signed data, or unsigned data that happens to straddle 0, is shown symmetric around 0.
  const diverging = signed || (lo < 0 && hi > 0);
  if (diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    lo = -m;
    hi = m;
  } else if (hi === lo) {
    hi = lo + 1;
  }
  const t = (v: number | null | undefined): number | null => {
    if (!finite(v)) return null;
    if (diverging) return Math.max(-1, Math.min(1, v / hi));
    return Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
  };
  return {
    signed: diverging,
    lo,
    hi,
    t,
    color(v) {
      const x = t(v);
      if (x === null) return null;
      return x >= 0 ? mix(RED, x) : mix(BLUE, -x);
    },
    dark(v) {
      const x = t(v);
      return x === null || Math.abs(x) < 0.6;
    },
  };
}

/** A horizontal gradient with its end values (and 0 in the middle for diverging scales). */
export function legend(scale: Scale, title: string): HTMLElement {
  const stops = scale.signed
    ? `${mix(BLUE, 1)}, #fff, ${mix(RED, 1)}`
    : `#fff, ${mix(RED, 1)}`;
  return h(
    "div",
    { class: "legend", "aria-label": `Colour scale for ${title}: ${num(scale.lo)} to ${num(scale.hi)}` },
    h("span", { class: "legend-title" }, title),
    h("span", { class: "legend-value" }, num(scale.lo)),
    h("span", { class: "legend-bar", style: { background: `linear-gradient(to right, ${stops})` } }),
    h("span", { class: "legend-value" }, num(scale.hi)),
    scale.signed ? h("span", { class: "legend-note" }, "blue: lowers · red: raises · white: 0") : null,
    h("span", { class: "legend-note" }, h("span", { class: "swatch-nan" }), "not computed"),
  );
}
