// The heat map's colour scale: the shared rule of ./colorscale (the same as Python's
// pellucid.render.colors) with the helpers the views use, and its legend.

import { h } from "../lib/dom";
import { num } from "../lib/format";
import { HIGH, LOW, colorScale, css, darkTextOn, finite, flatFinite, mix } from "./colorscale";

export { finite, flatFinite };

export interface Scale {
  /** Diverging around 0 (signed scores, or unsigned ones on both sides of 0). */
  signed: boolean;
  lo: number;
  hi: number;
  /** Position in [-1, 1] (signed) or [0, 1] (unsigned); null when not computed. */
  t(v: number | null | undefined): number | null;
  color(v: number | null | undefined): string | null;
  /** Whether dark text reads on this value's background. */
  dark(v: number | null | undefined): boolean;
}

export function makeScale(values: unknown, signed: boolean): Scale {
  const scale = colorScale(values, signed);
  return {
    signed: scale.diverging,
    lo: scale.lo,
    hi: scale.hi,
    t: scale.t,
    color(v) {
      const c = scale.rgb(v);
      return c === null ? null : css(c);
    },
    dark(v) {
      const c = scale.rgb(v);
      return c === null || darkTextOn(c);
    },
  };
}

/** A horizontal gradient with its end values (and 0 in the middle for diverging scales). */
export function legend(scale: Scale, title: string): HTMLElement {
  const white = css(mix(HIGH, 0));
  const stops = scale.signed
    ? `${css(mix(LOW, 1))}, ${white}, ${css(mix(HIGH, 1))}`
    : `${white}, ${css(mix(HIGH, 1))}`;
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
