// A canvas scatter plot for thousands of points: colour per category or value, hover to see a
// point's text, click to open it, wheel to zoom, drag to pan, shift-drag to lasso a group. A
// uniform grid finds the nearest point quickly. From the keyboard: the arrows move between
// nearest points (the focused one is announced in a live region), Enter opens it, + - 0 zoom.

import { h } from "../lib/dom";
import { drawLasso, inside, type Polygon } from "./lasso";
import { isArrow, nearestTo, step } from "./scatter-keys";
import { PALETTE } from "./line";

export interface ScatterPoint {
  x: number;
  y: number;
  color: string;
  label: string;
}

export interface ScatterOptions {
  width?: number;
  height?: number;
  onPick?: (index: number) => void;
  /** Shift-drag draws a lasso; on release, the indices of the points inside it. */
  onLasso?: (indices: number[]) => void;
}

export function scatter(points: ScatterPoint[], opts: ScatterOptions = {}): HTMLElement {
  const width = opts.width ?? 760;
  const height = opts.height ?? 460;
  const dpr = window.devicePixelRatio || 1;
  const canvas = h("canvas", {
    class: "scatter-canvas",
    tabIndex: 0,
    role: "application",
    "aria-roledescription": "scatter plot",
    "aria-label": `Scatter plot of ${points.length} points: arrow keys move between points, Enter opens the focused one`,
  });
  const live = h("div", { class: "sr-only scatter-live", role: "status", "aria-live": "polite" });
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d")!;
  const tip = h("div", { class: "tooltip", hidden: true });
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pad = 14;
  let zoom = 1;
  let panX = 0;
  let panY = 0;
  const sx = (x: number) => (pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad) - width / 2) * zoom + width / 2 + panX;
  const sy = (y: number) => (height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad) - height / 2) * zoom + height / 2 + panY;
  let hover = -1;
  let focused = -1; // the point the arrow keys are on
  let lasso: Polygon | null = null;
  let lassoed = false; // the click that ends a lasso opens nothing
  let selected = new Set<number>();
  const CELL = 12;
  let index = new Map<number, number[]>();

  function draw(): void {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.globalAlpha = 0.75;
    index = new Map();
    const size = points.length > 3000 ? 3 : 5;
    for (let i = 0; i < points.length; i++) {
      const px = sx(points[i].x);
      const py = sy(points[i].y);
      if (px < -5 || py < -5 || px > width + 5 || py > height + 5) continue;
      ctx.fillStyle = points[i].color;
      ctx.fillRect(px - size / 2, py - size / 2, size, size);
      const key = Math.floor(px / CELL) * 10007 + Math.floor(py / CELL);
      const bucket = index.get(key);
      if (bucket) bucket.push(i);
      else index.set(key, [i]);
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = "#1d2330";
    for (const i of selected) ctx.strokeRect(sx(points[i].x) - size / 2 - 1.5, sy(points[i].y) - size / 2 - 1.5, size + 3, size + 3);
    if (lasso) drawLasso(ctx, lasso);
    if (focused >= 0) {
      ctx.strokeStyle = "#2456d6";
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      ctx.arc(sx(points[focused].x), sy(points[focused].y), 8, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    if (hover >= 0) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.strokeRect(sx(points[hover].x) - 5, sy(points[hover].y) - 5, 10, 10);
      ctx.lineWidth = 1;
    }
  }

  function nearest(mx: number, my: number): number {
    let best = -1;
    let bestD = 64;
    const cx = Math.floor(mx / CELL);
    const cy = Math.floor(my / CELL);
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const i of index.get((cx + dx) * 10007 + cy + dy) ?? []) {
          const d = (sx(points[i].x) - mx) ** 2 + (sy(points[i].y) - my) ** 2;
          if (d < bestD) (bestD = d), (best = i);
        }
      }
    }
    return best;
  }

  function endLasso(): void {
    if (!lasso) return;
    const poly = lasso;
    lasso = null;
    lassoed = true;
    setTimeout(() => (lassoed = false), 0);
    selected = new Set(poly.length > 2 ? points.map((_, i) => i).filter((i) => inside(sx(points[i].x), sy(points[i].y), poly)) : []);
    draw();
    opts.onLasso?.([...selected]);
  }

  let drag: { x: number; y: number; moved: boolean } | null = null;
  canvas.addEventListener("mousedown", (e) => {
    if (e.shiftKey && opts.onLasso) {
      lasso = [[e.offsetX, e.offsetY]];
      return;
    }
    drag = { x: e.offsetX, y: e.offsetY, moved: false };
  });
  window.addEventListener("mouseup", () => {
    endLasso();
    setTimeout(() => (drag = null), 0);
  });
  canvas.addEventListener("mousemove", (e) => {
    if (lasso && e.buttons & 1) {
      lasso.push([e.offsetX, e.offsetY]);
      draw();
      return;
    }
    if (drag && (e.buttons & 1)) {
      const dx = e.offsetX - drag.x;
      const dy = e.offsetY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      panX += dx;
      panY += dy;
      drag.x = e.offsetX;
      drag.y = e.offsetY;
      draw();
      return;
    }
    const i = nearest(e.offsetX, e.offsetY);
    if (i !== hover) {
      hover = i;
      draw();
    }
    tip.hidden = i < 0;
    if (i >= 0) {
      tip.textContent = points[i].label;
      tip.style.left = `${e.offsetX + 14}px`;
      tip.style.top = `${e.offsetY + 14}px`;
    }
  });
  canvas.addEventListener("mouseleave", () => ((tip.hidden = true), (hover = -1), draw()));
  canvas.addEventListener("click", (e) => {
    if (drag?.moved || lassoed) return;
    const i = nearest(e.offsetX, e.offsetY);
    if (i >= 0) opts.onPick?.(i);
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const f = e.deltaY < 0 ? 1.25 : 0.8;
    panX = (panX - (e.offsetX - width / 2)) * f + (e.offsetX - width / 2);
    panY = (panY - (e.offsetY - height / 2)) * f + (e.offsetY - height / 2);
    zoom *= f;
    draw();
  }, { passive: false });
  const at = (i: number): [number, number] => [sx(points[i].x), sy(points[i].y)];
  /** Arrows move the focus to the nearest point that way and announce it; Enter opens it. */
  const pointKeys = (e: KeyboardEvent): boolean => {
    if (e.key === "Enter" && focused >= 0) return opts.onPick?.(focused), true;
    if (!isArrow(e.key) || !points.length) return false;
    focused = focused < 0 ? nearestTo(points.length, at, width / 2, height / 2) : step(points.length, at, focused, e.key);
    canvas.dataset.focused = String(focused);
    live.textContent = `Point ${focused + 1} of ${points.length}: ${points[focused].label}`;
    draw();
    return true;
  };
  canvas.addEventListener("keydown", (e) => {
    if (pointKeys(e)) return void e.preventDefault();
    if (e.key === "+" || e.key === "=") zoom *= 1.25;
    else if (e.key === "-") zoom *= 0.8;
    else if (e.key === "0") (zoom = 1), (panX = 0), (panY = 0);
    else return;
    draw();
  });
  draw();
  return h("div", { class: "scatter", "data-points": points.length }, canvas, tip, live);
}

/** Colours for categories (cycled) and for numbers (white → red). */
export function categoryColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

export function valueColor(t: number): string {
  const a = Math.max(0, Math.min(1, t));
  return `rgb(${Math.round(230 - 30 * a)},${Math.round(220 - 190 * a)},${Math.round(120 - 90 * a)})`;
}
