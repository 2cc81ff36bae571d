// Moved features: the latents whose firing rate changed most between two windows of logged traffic
// (feature drift), each linking to its page and to the Monitor records where it fires.

import { api } from "../../lib/api";
import type { MovedFeatures } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { field, h, setChildren } from "../../lib/dom";
import { num } from "../../lib/format";
import { runJob } from "../../lib/job";
import { featureLink } from "./shared";

function table(result: MovedFeatures): HTMLElement {
  return h(
    "table",
    { class: "table", id: "moved-table" },
    h("thead", {}, h("tr", {}, ["Feature", "Change", "Reference rate", "Current rate", "q", "Records"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      result.moved.map((m) =>
        h(
          "tr",
          { "data-latent": m.latent },
          h("td", {}, featureLink(result.dictionary, m.latent)),
          h("td", {}, m.change),
          h("td", { class: "num" }, `${num(100 * m.reference_rate, 1)} %`),
          h("td", { class: "num" }, `${num(100 * m.current_rate, 1)} %`),
          h("td", { class: "num" }, num(m.q_value)),
          h("td", {}, h("a", { href: m.records, class: "moved-records" }, "records")),
        ),
      ),
    ),
  );
}

export function movedView(ctx: AppContext, dictionary: () => string): HTMLElement {
  const reference = h("input", { type: "text", id: "moved-ref", value: "last:14d", required: true });
  const current = h("input", { type: "text", id: "moved-cur", value: "last:1d", required: true });
  const status = h("div", { class: "status" });
  const out = h("div", { id: "moved-result" });
  const run = async (): Promise<void> => {
    const query = { reference: reference.value.trim(), current: current.value.trim(), model: ctx.model() };
    const name = dictionary();
    const result = await runJob(status, "Comparing the windows", (signal) => api<MovedFeatures>(`/api/features/${encodeURIComponent(name)}/moved`, { query, signal }));
    if (!result) return;
    setChildren(out, h("p", {}, h("span", { class: `badge ${result.drifted ? "bad" : "good"}` }, result.drifted ? "moved" : "stable"), " ", result.verdict), result.moved.length ? table(result) : null);
  };
  return h(
    "section",
    { class: "panel" },
    h("h3", {}, "Moved features"),
    h("form", { class: "features-form", onsubmit: (e: Event) => (e.preventDefault(), void run()) }, field("Reference window", reference), field("Current window", current), h("button", { type: "submit", class: "primary", id: "moved-run" }, "Compare")),
    status,
    out,
  );
}
