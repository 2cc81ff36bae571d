// The one heat-map colour scale, shared with Python (pellucid.render.colors): the colours and
// thresholds come from src/pellucid/render/assets/colors.json, imported at build time, and the
// rule below is the same as Python's, step for step (tests/e2e/test_colour_parity.py compares
// them cell by cell). No DOM here, so the module also runs in Node.
//
// signed: diverging around 0, scaled by max |score|. unsigned: sequential from 0 ([0, max] when
// all scores are >= 0, [min, 0] when all are <= 0); unsigned scores on both sides of 0 are drawn
// diverging. NaN / null: no colour. Text is dark when the background's luma > text_threshold.

import palette from "../../../src/pellucid/render/assets/colors.json";

export type RGB = [number, number, number];

export interface ColorScale {
  /** Drawn around 0 with two colours (signed, or unsigned on both sides of 0). */
  diverging: boolean;
  /** The scores the two ends of the scale stand for. */
  lo: number;
  hi: number;
  /** Position in [-1, 1] (diverging) or [0, 1]; null when not computed. */
  t(v: number | null | undefined): number | null;
  rgb(v: number | null | undefined): RGB | null;
}

export const HIGH = palette.high as RGB;
export const LOW = palette.low as RGB;
export const ZERO = palette.zero as RGB;

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

/** ``zero`` moved towards ``end`` by ``a`` in [0, 1], each channel rounded half up (as Python). */
export function mix(end: RGB, a: number): RGB {
  return [0, 1, 2].map((i) => Math.floor(ZERO[i] + (end[i] - ZERO[i]) * a + 0.5)) as RGB;
}

export function css(c: RGB): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Whether dark text reads on ``c`` (its luma is above the shared threshold). */
export function darkTextOn(c: RGB): boolean {
  const [wr, wg, wb] = palette.luma;
  return wr * c[0] + wg * c[1] + wb * c[2] > palette.text_threshold;
}

export function colorScale(values: unknown, signed: boolean): ColorScale {
  const flat = flatFinite(values);
  let lo = flat.length ? Infinity : 0;
  let hi = flat.length ? -Infinity : 0;
  for (const v of flat) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let diverging = false;
  if (signed || (lo < 0 && hi > 0)) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    [diverging, lo, hi] = [true, -m, m];
  } else if (hi > 0 || lo === 0) {
    [lo, hi] = [0, hi || 1];
  } else {
    hi = 0;
  }
  const t = (v: number | null | undefined): number | null => {
    if (!finite(v)) return null;
    if (diverging) return Math.max(-1, Math.min(1, v / hi));
    return Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
  };
  return {
    diverging,
    lo,
    hi,
    t,
    rgb(v) {
      const x = t(v);
      if (x === null) return null;
      return x >= 0 ? mix(HIGH, x) : mix(LOW, -x);
    },
  };
}
