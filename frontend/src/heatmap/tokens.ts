// ("target", "input") explanations: the input text shaded by its attribution to one target
// token; the target tokens are buttons (arrow keys move between them). "<sequence>" is the
// whole answer.

import { h, setChildren } from "../lib/dom";
import { num, tokenText } from "../lib/format";
import type { Explanation, Score } from "../lib/types";
import { labelInfo } from "./details";
import { finite, legend, makeScale } from "./scale";

const WHOLE = "<sequence>";

export interface TokenViewOptions {
  /** Row shown first (default: the whole answer when present, else the last target token). */
  row?: number;
  onRow?: (row: number) => void;
}

function targetLabel(t: string): string {
  return t === WHOLE ? "Whole answer" : tokenText(t);
}

export function tokenView(ex: Explanation, opts: TokenViewOptions = {}): HTMLElement {
  const targets = ex.labels.target ?? [];
  const inputs = ex.labels.input ?? [];
  const rows = ex.scores as Score[][];
  let row = opts.row ?? (targets.includes(WHOLE) ? targets.indexOf(WHOLE) : targets.length - 1);
  const attributed = inputs.map((_, i) => rows.some((r) => finite(r[i])));
  let showAll = false;

  const bar = h("div", { class: "targets", role: "tablist", "aria-label": "Target tokens: choose which one to explain" });
  const buttons = targets.map((t, i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        class: t === WHOLE ? "target whole" : "target",
        "data-target-index": i,
        onclick: () => select(i),
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
            e.preventDefault();
            const next = (i + (e.key === "ArrowRight" ? 1 : -1) + targets.length) % targets.length;
            select(next);
            buttons[next].focus();
          }
        },
      },
      targetLabel(t),
    ),
  );
  bar.append(h("span", { class: "targets-label" }, "Explain: "), ...buttons);

  const toggle = h("input", { type: "checkbox", onchange: () => ((showAll = toggle.checked), draw()) });
  const text = h("div", { class: "token-text", "aria-live": "polite" });
  const legendHost = h("div");
  const top = h("ol", { class: "top-features", "aria-label": "Most important inputs" });
  const hasHidden = attributed.some((a) => !a);

  function select(i: number): void {
    row = i;
    opts.onRow?.(i);
    draw();
  }

  function draw(): void {
    buttons.forEach((b, i) => {
      b.classList.toggle("on", i === row);
      b.setAttribute("aria-selected", String(i === row));
      b.tabIndex = i === row ? 0 : -1;
    });
    const scores = rows[row] ?? [];
    const scale = makeScale(scores, ex.signed);
    setChildren(legendHost, legend(scale, `attribution to ${targetLabel(targets[row] ?? "")}`));
    const spans: HTMLElement[] = [];
    inputs.forEach((tok, i) => {
      if (!showAll && !attributed[i]) return;
      const v = scores[i];
      const info = labelInfo(ex, "input", i);
      const span = h("span", {
        class: `tok${attributed[i] ? "" : " tok-off"}${tok.includes("\n") ? " tok-nl" : ""}`,
        "data-score": finite(v) ? v : "",
        title: `${JSON.stringify(tok)}: ${finite(v) ? num(v, 4) : "not attributed"}${info.segment ? ` · ${String(info.segment)}` : ""}`,
      }, tokenText(tok));
      const c = scale.color(v);
      if (c) span.style.background = c;
      spans.push(span);
    });
    setChildren(text, spans);
    const ranked = inputs
      .map((tok, i) => ({ tok, i, v: scores[i] }))
      .filter((x) => finite(x.v))
      .sort((a, b) => (b.v as number) - (a.v as number))
      .slice(0, 5);
    setChildren(
      top,
      ranked.map((x) => h("li", { "data-token": x.tok.trim() }, h("code", {}, tokenText(x.tok).trim() || tokenText(x.tok)), h("span", { class: "muted" }, ` ${num(x.v as number, 3)}`))),
    );
  }

  draw();
  return h(
    "div",
    { class: "token-view" },
    bar,
    legendHost,
    text,
    hasHidden ? h("label", { class: "inline" }, toggle, " show tokens that were not attributed (template, system)") : null,
    h("div", { class: "top-wrap" }, h("span", { class: "muted" }, "Top inputs:"), top),
  );
}
