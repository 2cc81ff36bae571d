// 1-D explanations: one horizontal bar per label (diverging around 0 when signed).

import { h } from "../lib/dom";
import { num, tokenText } from "../lib/format";
import type { Score } from "../lib/types";
import type { Scale } from "./scale";
import { finite } from "./scale";

export function barsView(axis: string, labels: string[], values: Score[], scale: Scale, onCell?: (i: number) => void): HTMLElement {
  const m = Math.max(Math.abs(scale.lo), Math.abs(scale.hi)) || 1;
  const rows = labels.map((label, i) => {
    const v = values[i];
    const width = finite(v) ? (Math.abs(v) / m) * (scale.signed ? 50 : 100) : 0;
    const style: Record<string, string> = { width: `${width}%`, background: scale.color(finite(v) ? (scale.signed ? v : scale.hi) : null) ?? "#eee" };
    if (scale.signed) Object.assign(style, finite(v) && v < 0 ? { right: "50%" } : { left: "50%" });
    else style.left = "0";
    return h(
      "div",
      { class: "bar-row", role: onCell ? "button" : undefined, tabIndex: onCell ? 0 : undefined, onclick: onCell ? () => onCell(i) : undefined },
      h("span", { class: "bar-label", title: label }, tokenText(label)),
      h("span", { class: `bar-track${scale.signed ? " signed" : ""}` }, h("span", { class: "bar", style })),
      h("span", { class: "bar-value" }, finite(v) ? num(v) : "–"),
    );
  });
  return h("div", { class: "bars", "data-axes": axis, role: "list" }, rows);
}
