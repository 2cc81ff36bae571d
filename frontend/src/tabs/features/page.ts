// One feature's page (#features/<dict>/<id>): where it fires in the logged traffic (top contexts with
// the activating tokens coloured, the strongest outlined), its activation histogram and density, the
// tokens its decoder direction promotes and suppresses, and the records whose stored features include it.

import { api } from "../../lib/api";
import type { FeaturePage } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { h, setChildren } from "../../lib/dom";
import { num, visibleToken } from "../../lib/format";
import { runJob } from "../../lib/job";
import { activationTokens, featureLink, recordsHref } from "./shared";

function histogram(page: FeaturePage): HTMLElement {
  const counts = page.histogram.counts;
  if (!counts.length) return h("p", { class: "muted" }, "It does not fire in the texts read.");
  const top = Math.max(...counts) || 1;
  const edges = page.histogram.edges;
  const bars = h(
    "div",
    { class: "feature-histogram", role: "img", "aria-label": `Activation histogram, ${counts.length} bins` },
    counts.map((n, i) =>
      h("div", { class: "hbar", style: { height: `${Math.max(2, (100 * n) / top)}%` }, title: `${num(edges[i])}–${num(edges[i + 1])}: ${n} tokens` }),
    ),
  );
  return h("div", {}, bars, h("div", { class: "muted small" }, `activation ${num(edges[0], 3)} to ${num(edges[edges.length - 1], 3)}, where it fires`));
}

function effects(title: string, rows: FeaturePage["promoted"], cls: string): HTMLElement {
  return h(
    "div",
    { class: `feature-effects ${cls}` },
    h("h4", {}, title),
    rows.length ? h("ol", {}, rows.map((r) => h("li", {}, h("code", {}, visibleToken(r.token)), " ", h("span", { class: "muted" }, num(r.value, 2))))) : h("p", { class: "muted" }, "—"),
  );
}

function contexts(page: FeaturePage): HTMLElement {
  if (!page.contexts.length) return h("p", { class: "muted" }, "No logged text activates this feature in the tokens read.");
  return h(
    "div",
    { class: "feature-contexts" },
    page.contexts.map((c) =>
      h("div", { class: "feature-context" }, h("span", { class: "num muted" }, num(c.max, 2)), activationTokens(c.tokens, c.activations, { peak: c.peak, max: page.max_activation })),
    ),
  );
}

function records(ctx: AppContext, page: FeaturePage): HTMLElement {
  const all = h("a", { href: recordsHref(page.dictionary, page.feature), id: "feature-records-link" }, "All records where it fires →");
  if (!page.records.length) return h("div", {}, h("p", { class: "muted" }, "No stored features of these records include it yet (pellucid features enrich)."), all);
  return h(
    "div",
    {},
    h("ul", { class: "feature-records" }, page.records.map((r) => h("li", {}, h("a", { href: "#", onclick: (e: Event) => (e.preventDefault(), ctx.openRecord(r.id)) }, `…${r.id.slice(-12)}`), " ", num(r.activation, 2)))),
    all,
  );
}

export function featurePage(ctx: AppContext, dictionary: string, latent: number): HTMLElement {
  const status = h("div", { class: "status" });
  const body = h("div", { class: "feature-page-body" });
  const el = h("section", { class: "panel feature-page", id: "feature-page", "data-latent": latent }, h("h3", {}, "Feature ", featureLink(dictionary, latent), ` of ${dictionary}`), status, body);
  void (async () => {
    const query = { model: ctx.model() };
    const page = await runJob(status, `Reading feature ${latent}`, (signal) => api<FeaturePage>(`/api/features/${encodeURIComponent(dictionary)}/${latent}`, { query, signal }));
    if (!page) return;
    setChildren(
      body,
      h("p", { class: "feature-facts" }, `Fires on ${num(100 * page.density, 2)} % of ${page.tokens_read} tokens (max ${num(page.max_activation, 3)}) at ${page.site}; `, h("span", { class: "muted" }, page.source)),
      h("h4", {}, "Top contexts"),
      contexts(page),
      h("div", { class: "feature-columns" }, h("div", {}, h("h4", {}, "Activation histogram"), histogram(page)), effects("Promotes", page.promoted, "promoted"), effects("Suppresses", page.suppressed, "suppressed")),
      h("h4", {}, "Records where it fires"),
      records(ctx, page),
    );
  })();
  return el;
}
