// A 2-D heat map on a canvas (fast for thousands of cells): row labels left, column labels on
// top, a tooltip with the cell's details, click or Enter to select a cell, arrow keys to move.

import { h } from "../lib/dom";
import { num, truncate, visibleToken } from "../lib/format";
import type { Score } from "../lib/types";
import type { Scale } from "./scale";
import { finite } from "./scale";

export interface GridSpec {
  rowAxis: string;
  colAxis: string;
  rows: string[];
  cols: string[];
  values: Score[][];
  scale: Scale;
  /** Details shown in the tooltip for a cell. */
  details?: (i: number, j: number) => [string, string][];
  /** Text drawn inside a cell instead of its value (e.g. the logit lens's top token). */
  text?: (i: number, j: number) => string | null;
  onCell?: (i: number, j: number) => void;
  maxWidth?: number;
  compact?: boolean;
}

const FONT = "12px system-ui, sans-serif";

function measure(ctx: CanvasRenderingContext2D, labels: string[], cap: number): number {
  ctx.font = FONT;
  return Math.min(cap, Math.max(16, ...labels.map((l) => ctx.measureText(truncate(visibleToken(l), 16)).width)) + 8);
}

export function gridView(spec: GridSpec): HTMLElement {
  const { rows, cols, values, scale } = spec;
  const canvas = h("canvas", {
    class: "grid-canvas",
    tabIndex: 0,
    role: "img",
    "aria-label": `Heat map of ${spec.rowAxis} × ${spec.colAxis}: ${rows.length} × ${cols.length} cells. Arrow keys move, Enter selects.`,
  });
  const ctx = canvas.getContext("2d")!;
  const left = measure(ctx, rows, 130);
  const labelH = spec.compact ? 0 : measure(ctx, cols, 110) * 0.75 + 6;
  const withText = !!spec.text || cols.length <= 24;
  const avail = (spec.maxWidth ?? 960) - left - 8;
  const cw = Math.max(3, Math.min(withText ? 56 : 36, Math.floor(avail / Math.max(1, cols.length))));
  const ch = Math.max(3, Math.min(24, spec.compact ? cw : Math.max(cw * 0.7, withText && cw >= 28 ? 18 : 0)));
  // column labels are drawn at 45°: the last ones reach past the last column by up to labelH
  const right = spec.compact ? 4 : Math.max(4, Math.ceil(labelH - cw / 2));
  const width = left + cw * cols.length + right;
  const height = labelH + ch * rows.length + 4;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(width * dpr);
  canvas.height = Math.ceil(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  let focus: [number, number] | null = null;

  function draw(): void {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#333";
    ctx.textAlign = "right";
    const rowStep = Math.max(1, Math.ceil(12 / ch));
    rows.forEach((r, i) => {
      if (i % rowStep === 0) ctx.fillText(truncate(visibleToken(r), 16), left - 4, labelH + ch * (i + 0.5));
    });
    if (!spec.compact) {
      const colStep = Math.max(1, Math.ceil(12 / cw));
      ctx.textAlign = "left";
      cols.forEach((c, j) => {
        if (j % colStep) return;
        ctx.save();
        ctx.translate(left + cw * (j + 0.5) + 3, labelH - 4);
        ctx.rotate(-Math.PI / 4);
        ctx.fillText(truncate(visibleToken(c), 16), 0, 0);
        ctx.restore();
      });
    }
    ctx.textAlign = "center";
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < cols.length; j++) {
        const v = values[i]?.[j];
        const x = left + cw * j;
        const y = labelH + ch * i;
        const c = scale.color(v);
        if (c) {
          ctx.fillStyle = c;
          ctx.fillRect(x, y, cw, ch);
        } else {
          ctx.fillStyle = "#eee";
          ctx.fillRect(x, y, cw, ch);
          ctx.strokeStyle = "#ddd";
          ctx.beginPath();
          ctx.moveTo(x, y + ch);
          ctx.lineTo(x + cw, y);
          ctx.stroke();
        }
        if (cw >= 28 && ch >= 14) {
          const label = spec.text ? spec.text(i, j) : finite(v) ? num(v, 2) : "";
          if (label) {
            ctx.fillStyle = scale.dark(v) ? "#222" : "#fff";
            ctx.fillText(truncate(visibleToken(label), Math.floor(cw / 7)), x + cw / 2, y + ch / 2);
          }
        }
      }
    }
    if (focus) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.strokeRect(left + cw * focus[1] + 1, labelH + ch * focus[0] + 1, cw - 2, ch - 2);
      ctx.lineWidth = 1;
    }
  }

  const tip = h("div", { class: "tooltip", hidden: true });
  const live = h("div", { class: "sr-only", "aria-live": "polite" });

  function cellAt(ev: MouseEvent): [number, number] | null {
    const rect = canvas.getBoundingClientRect();
    const j = Math.floor((ev.clientX - rect.left - left) / cw);
    const i = Math.floor((ev.clientY - rect.top - labelH) / ch);
    return i >= 0 && j >= 0 && i < rows.length && j < cols.length ? [i, j] : null;
  }

  function describe(i: number, j: number): string {
    const v = values[i]?.[j];
    const lines = [
      `${spec.rowAxis} ${rows[i]} · ${spec.colAxis} ${JSON.stringify(cols[j])}`,
      `score: ${finite(v) ? num(v, 4) : "not computed"}`,
      ...(spec.details?.(i, j) ?? []).map(([k, d]) => `${k}: ${d}`),
    ];
    return lines.join("\n");
  }

  function show(i: number, j: number, x: number, y: number): void {
    tip.textContent = describe(i, j);
    tip.hidden = false;
    tip.style.left = `${x + canvas.offsetLeft + 14}px`;
    tip.style.top = `${y + 14}px`;
  }

  canvas.addEventListener("mousemove", (ev) => {
    const cell = cellAt(ev);
    if (!cell) return void (tip.hidden = true);
    const rect = canvas.getBoundingClientRect();
    show(cell[0], cell[1], ev.clientX - rect.left, ev.clientY - rect.top);
  });
  canvas.addEventListener("mouseleave", () => (tip.hidden = true));
  canvas.addEventListener("click", (ev) => {
    const cell = cellAt(ev);
    if (!cell) return;
    focus = cell;
    draw();
    spec.onCell?.(cell[0], cell[1]);
  });
  canvas.addEventListener("keydown", (ev) => {
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[ev.key]) {
      ev.preventDefault();
      const [di, dj] = moves[ev.key];
      const [i, j] = focus ?? [0, 0];
      focus = [Math.max(0, Math.min(rows.length - 1, i + (focus ? di : 0))), Math.max(0, Math.min(cols.length - 1, j + (focus ? dj : 0)))];
      draw();
      live.textContent = describe(focus[0], focus[1]);
      show(focus[0], focus[1], left + cw * (focus[1] + 1), labelH + ch * focus[0]);
    } else if ((ev.key === "Enter" || ev.key === " ") && focus) {
      ev.preventDefault();
      spec.onCell?.(focus[0], focus[1]);
    } else if (ev.key === "Escape") {
      tip.hidden = true;
    }
  });
  canvas.addEventListener("blur", () => (tip.hidden = true));

  draw();
  // axis titles: which axis runs down the rows and which across the columns
  const body = h("div", { class: "grid-body" }, h("div", { class: "axis-title axis-y", "aria-hidden": "true" }, `${spec.rowAxis} ↓`), canvas, tip);
  return h(
    "div",
    {
      class: `grid${spec.onCell ? " clickable" : ""}${spec.compact ? " compact" : ""}`,
      "data-rows": rows.length,
      "data-cols": cols.length,
      "data-axes": `${spec.rowAxis},${spec.colAxis}`,
      // where the cells are on the canvas (CSS px): for tests and tools that read the pixels
      "data-left": left,
      "data-top": labelH,
      "data-cell-width": cw,
      "data-cell-height": ch,
    },
    h("div", { class: "axis-title axis-x", "aria-hidden": "true" }, `${spec.colAxis} →`),
    body,
    live,
  );
}
