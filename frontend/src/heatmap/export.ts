// Export buttons for a rendered Explanation: its JSON, or a self-contained HTML page.

import { button, h } from "../lib/dom";
import { download, standaloneHtml } from "../lib/download";
import type { Explanation } from "../lib/types";

export function exportBar(ex: Explanation, view: HTMLElement, name = "explanation"): HTMLElement {
  const base = `${name}-${ex.method}`;
  return h(
    "div",
    { class: "export-bar" },
    button("Export JSON", () => download(`${base}.json`, JSON.stringify(ex, null, 1), "application/json"), "secondary small"),
    button("Export HTML", () => download(`${base}.html`, standaloneHtml(`${ex.method} · ${ex.model}`, view, ex), "text/html"), "secondary small"),
  );
}

/** The heat map plus its export buttons. */
export function withExport(ex: Explanation, view: HTMLElement, name?: string): HTMLElement {
  return h("div", { class: "result" }, exportBar(ex, view, name), view);
}
