// The one heat-map component: draws any Explanation from its axes and labels alone.
//   ("target", "input")  → input text shaded per target token (tokens.ts)
//   1 axis               → bars (bars.ts)
//   2 axes               → grid (grid.ts)
//   3 axes               → a selector over the first axis, or small multiples of the other two
// There is no per-method code: details come generically from ``meta`` (details.ts).

import { h, setChildren } from "../lib/dom";
import { tokenText } from "../lib/format";
import type { Explanation, Score } from "../lib/types";
import { barsView } from "./bars";
import { cellText, describe, detailsAt, facts, labelInfo, shape, textDetailKeys } from "./details";
import { gridView } from "./grid";
import { legend, makeScale } from "./scale";
import { tokenView } from "./tokens";

export interface Cell {
  indices: number[];
  labels: string[];
}

export interface RenderOptions {
  onCell?: (cell: Cell, ex: Explanation) => void;
  /** First target row for token views. */
  row?: number;
  title?: string;
}

export function renderExplanation(ex: Explanation, opts: RenderOptions = {}): HTMLElement {
  const root = h("div", { class: "heatmap", "data-kind": ex.kind, "data-method": ex.method, "data-axes": ex.axes.join(",") });
  root.append(header(ex, opts.title));
  const sizes = shape(ex);
  if (sizes.some((n) => n === 0)) {
    root.append(h("div", { class: "notice" }, "This explanation is empty (an axis has no labels)."));
  } else if (ex.axes.length === 2 && ex.axes[0] === "target" && ex.axes[1] === "input") {
    root.append(tokenView(ex, { row: opts.row }));
  } else if (ex.axes.length === 1) {
    root.append(oneD(ex, opts));
  } else if (ex.axes.length === 2) {
    root.append(twoD(ex, ex.scores as Score[][], [], opts));
  } else if (ex.axes.length === 3) {
    root.append(threeD(ex, opts));
  } else {
    root.append(h("div", { class: "notice" }, `Cannot draw ${ex.axes.length} axes (${ex.axes.join(" × ")}); export the JSON instead.`));
  }
  return root;
}

function header(ex: Explanation, title?: string): HTMLElement {
  const items = facts(ex).slice(0, 10);
  return h(
    "div",
    { class: "hm-header" },
    h("div", { class: "hm-title" }, title ?? `${ex.method}`, h("span", { class: "muted" }, ` · ${ex.axes.join(" × ")} · ${ex.model}`)),
    items.length ? h("dl", { class: "facts" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
  );
}

function cellDetails(ex: Explanation, idx: number[]): [string, string][] {
  const out: [string, string][] = Object.entries(detailsAt(ex, idx)).map(([k, v]) => [k, describe(v)]);
  idx.forEach((i, d) => {
    for (const [k, v] of Object.entries(labelInfo(ex, ex.axes[d], i))) out.push([`${ex.axes[d]} ${k}`, describe(v)]);
  });
  return out;
}

function emit(ex: Explanation, opts: RenderOptions, idx: number[]): void {
  opts.onCell?.({ indices: idx, labels: idx.map((i, d) => ex.labels[ex.axes[d]][i]) }, ex);
}

function oneD(ex: Explanation, opts: RenderOptions): HTMLElement {
  const axis = ex.axes[0];
  const scale = makeScale(ex.scores, ex.signed);
  return h(
    "div",
    {},
    legend(scale, ex.method),
    barsView(axis, ex.labels[axis], ex.scores as Score[], scale, opts.onCell ? (i) => emit(ex, opts, [i]) : undefined),
  );
}

/** A grid of axes (d0, d1) = the last two axes, with ``fixed`` leading indices (3-D slices). */
function twoD(ex: Explanation, values: Score[][], fixed: number[], opts: RenderOptions, compact = false, scaleValues?: unknown): HTMLElement {
  const [a0, a1] = ex.axes.slice(fixed.length);
  const scale = makeScale(scaleValues ?? values, ex.signed);
  const keys = textDetailKeys(ex, [fixed.length, fixed.length + 1], fixed);
  const host = h("div", { class: "grid-host" });
  let textKey = keys[0] ?? "";
  const draw = (): void => {
    const text = textKey
      ? (i: number, j: number) => cellText(detailsAt(ex, [...fixed, i, j])[textKey])
      : undefined;
    setChildren(
      host,
      gridView({
        rowAxis: a0,
        colAxis: a1,
        rows: ex.labels[a0],
        cols: ex.labels[a1],
        values,
        scale,
        compact,
        maxWidth: compact ? 300 : undefined,
        text,
        details: (i, j) => cellDetails(ex, [...fixed, i, j]),
        onCell: opts.onCell ? (i, j) => emit(ex, opts, [...fixed, i, j]) : undefined,
      }),
    );
  };
  draw();
  const chooser = keys.length
    ? h(
        "label",
        { class: "inline" },
        "Show in cells: ",
        h(
          "select",
          { onchange: (e: Event) => ((textKey = (e.target as HTMLSelectElement).value), draw()) },
          h("option", { value: "" }, "score"),
          keys.map((k) => h("option", { value: k, selected: k === textKey }, k)),
        ),
      )
    : null;
  return h("div", {}, compact ? null : h("div", { class: "hm-controls" }, legend(scale, ex.method), chooser), host);
}

function threeD(ex: Explanation, opts: RenderOptions): HTMLElement {
  const axis = ex.axes[0];
  const labels = ex.labels[axis];
  const cube = ex.scores as Score[][][];
  const host = h("div", { class: "cube-host" });
  const select = h(
    "select",
    { "aria-label": `Choose ${axis}`, onchange: () => one(Number(select.value)) },
    labels.map((l, i) => h("option", { value: i }, `${axis} ${tokenText(l)}`)),
  );
  const one = (k: number): void => {
    select.value = String(k);
    setChildren(host, twoD(ex, cube[k], [k], opts));
  };
  const many = (): void => {
    const scale = makeScale(cube, ex.signed);
    setChildren(
      host,
      legend(scale, `${ex.method} (shared scale)`),
      h(
        "div",
        { class: "multiples" },
        labels.map((l, k) =>
          h(
            "figure",
            { class: "multiple" },
            h("figcaption", {}, h("button", { type: "button", class: "link", onclick: () => ((mode.value = "one"), one(k)) }, `${axis} ${l}`)),
            twoD(ex, cube[k], [k], opts, true, cube),
          ),
        ),
      ),
    );
  };
  const mode = h(
    "select",
    { "aria-label": "View", onchange: () => (mode.value === "many" ? many() : one(Number(select.value))) },
    h("option", { value: "one" }, "one at a time"),
    h("option", { value: "many" }, "small multiples"),
  );
  const small = labels.length <= 36;
  if (!small) mode.disabled = true;
  one(0);
  return h("div", {}, h("div", { class: "hm-controls" }, h("label", { class: "inline" }, "Show ", select), h("label", { class: "inline" }, " as ", mode)), host);
}

