// Serving now (/api/serving): per served model, the continuous-batching queue, running batch,
// time to first token and tokens/s, refreshed with the metrics charts.

import { api } from "../../lib/api";
import { h, setChildren } from "../../lib/dom";
import type { Serving } from "../../lib/types";

const ms = (v: number | null): string => (v === null ? "–" : `${Math.round(v)} ms`);

export function servingTable(data: Serving): HTMLElement {
  if (!data.batching) return h("p", { class: "hint" }, "Batching is off: each request generates in its own thread.");
  if (!data.models.length) return h("p", { class: "hint" }, "No model has served a /v1 call yet.");
  return h(
    "table",
    { class: "table", id: "serving-table" },
    h("thead", {}, h("tr", {}, ["Model", "Queued", "Running", "TTFT p50", "TTFT p95", "Tokens/s", "Served", "Cancelled", "Rejected"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      data.models.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, m.model),
          h("td", {}, `${m.queued} / ${m.max_queue}`),
          h("td", {}, `${m.running} / ${m.max_batch}`),
          h("td", {}, ms(m.ttft_p50_ms)),
          h("td", {}, ms(m.ttft_p95_ms)),
          h("td", {}, m.tokens_per_s.toFixed(1)),
          h("td", {}, String(m.served)),
          h("td", {}, String(m.cancelled)),
          h("td", {}, String(m.rejected)),
        ),
      ),
    ),
  );
}

/** A card that loads the serving figures on each ``refresh()``; errors show in the card. */
export function servingCard(): { element: HTMLElement; refresh(): Promise<void> } {
  const body = h("div", {});
  const element = h("section", { class: "card serving-card" }, h("h3", {}, "Serving now"), body);
  async function refresh(): Promise<void> {
    try {
      setChildren(body, servingTable(await api<Serving>("/api/serving")));
    } catch (err) {
      setChildren(body, h("p", { class: "error" }, `Serving figures: ${(err as Error).message}`));
    }
  }
  return { element, refresh };
}
