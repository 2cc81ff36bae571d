// Features per token: a prompt's tokens coloured by their strongest latent's activation; click a token
// for its latents, click a latent for its page.

import { api } from "../../lib/api";
import type { TokenFeatures } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { field, h, setChildren } from "../../lib/dom";
import { num, visibleToken } from "../../lib/format";
import { runJob } from "../../lib/job";
import { activationTokens, featureLink } from "./shared";

function latentsOf(result: TokenFeatures, i: number): HTMLElement {
  const found = result.features[i];
  return h(
    "div",
    { class: "token-latents", id: "token-latents", "data-index": i },
    h("h4", {}, "Token ", h("code", {}, visibleToken(result.tokens[i])), ` (position ${i})`),
    found.length
      ? h("ol", {}, found.map((f) => h("li", {}, featureLink(result.dictionary, f.latent), " ", h("span", { class: "num" }, num(f.activation, 3)))))
      : h("p", { class: "muted" }, "No latent fires here."),
  );
}

export function tokensView(ctx: AppContext, dictionary: () => string): HTMLElement {
  const prompt = h("textarea", { id: "features-prompt", rows: 3, required: true, placeholder: "Text to read the features of" }, "The Eiffel Tower is located in the city of Paris.");
  const k = h("input", { type: "number", id: "features-k", min: 1, max: 64, value: 5 });
  const status = h("div", { class: "status" });
  const out = h("div", { id: "features-tokens" });
  const run = async (): Promise<void> => {
    const body = { prompt: prompt.value, k: Number(k.value), model: ctx.model() };
    const name = dictionary();
    const result = await runJob(status, "Reading the features", (signal) => api<TokenFeatures>(`/api/features/${encodeURIComponent(name)}/tokens`, { method: "POST", body, signal }));
    if (!result) return;
    const strongest = result.features.map((f) => f[0]?.activation ?? 0);
    const detail = h("div", {}, h("p", { class: "muted" }, "Click a token to list its latents."));
    const show = (i: number): void => setChildren(detail, latentsOf(result, i));
    setChildren(out, h("p", { class: "muted" }, `${result.site} of ${result.model}: each token coloured by its strongest latent.`), activationTokens(result.tokens, strongest, { onClick: show, cls: "clickable" }), detail);
  };
  return h(
    "section",
    { class: "panel" },
    h("h3", {}, "Features at each token"),
    h("form", { class: "features-form", onsubmit: (e: Event) => (e.preventDefault(), void run()) }, field("Prompt", prompt), field("Latents per token", k), h("button", { type: "submit", class: "primary", id: "features-run" }, "Show features")),
    status,
    out,
  );
}
