// Features: the dictionaries this server serves (pellucid serve --features DIR), a feature's page
// (#features/<dict>/<id>), the features active at each token of a prompt, and the features whose
// firing rate moved between two windows of logged traffic.

import { api } from "../../lib/api";
import type { DictionaryInfo } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { field, h, setChildren } from "../../lib/dom";
import { num } from "../../lib/format";
import { errorBox, notice } from "../../lib/job";
import { movedView } from "./moved";
import { featurePage } from "./page";
import { featureHref } from "./shared";
import { tokensView } from "./tokens";

export interface FeaturesTab {
  element: HTMLElement;
  /** Show ``[dictionary, latent]`` from the route (#features/<dict>/<id>); either may be missing. */
  show(path: string[]): void;
}

function facts(d: DictionaryInfo): HTMLElement {
  if (d.error) return errorBox(d.error);
  const figures = Object.entries(d.metrics ?? {}).map(([k, v]) => `${k} ${num(v, 3)}`);
  return h("p", { class: "muted", id: "dictionary-facts" }, `${d.architecture} · ${d.latents} latents · k ${d.k} · ${d.site} of ${d.model}`, figures.length ? ` · ${figures.join(" · ")}` : "");
}

export function featuresTab(ctx: AppContext): FeaturesTab {
  const select = h("select", { id: "dictionary-select", "aria-label": "Dictionary" });
  const about = h("div");
  const latent = h("input", { type: "number", id: "feature-id", min: 0, placeholder: "id" });
  const pageHost = h("div", { id: "feature-page-host" });
  const body = h("div", { class: "features-body" });
  const element = h("div", { class: "tab-body features" }, body);
  let dictionaries: DictionaryInfo[] | null = null;
  let wanted: string[] = [];
  const current = (): string => select.value;
  const describe = (): void => setChildren(about, ...dictionaries!.filter((d) => d.name === select.value).map(facts));
  const open = (e: Event): void => {
    e.preventDefault();
    if (latent.value !== "") location.hash = featureHref(current(), Number(latent.value));
  };

  const render = (): void => {
    const [name, id] = wanted;
    if (name && [...select.options].some((o) => o.value === name)) select.value = name;
    describe();
    const shown = pageHost.firstElementChild as HTMLElement | null;
    if (id !== undefined && /^\d+$/.test(id)) {
      if (!shown || shown.dataset.latent !== id || shown.dataset.dictionary !== current()) {
        const page = featurePage(ctx, current(), Number(id));
        page.dataset.dictionary = current();
        setChildren(pageHost, page);
      }
    } else setChildren(pageHost);
  };

  const build = async (): Promise<void> => {
    try {
      dictionaries = await api<DictionaryInfo[]>("/api/features");
    } catch (e) {
      return void setChildren(body, errorBox((e as Error).message));
    }
    if (!dictionaries.length) return void setChildren(body, notice("This server serves no feature dictionary: start it with pellucid serve --features DIR (or PELLUCID_FEATURES)."));
    setChildren(select, dictionaries.map((d) => h("option", { value: d.name }, d.name)));
    select.addEventListener("change", () => (location.hash = `#features/${encodeURIComponent(current())}`));
    setChildren(
      body,
      h("div", { class: "panel features-head" }, field("Dictionary", select), about, h("form", { class: "inline", onsubmit: open }, field("Feature", latent), h("button", { type: "submit", class: "secondary" }, "Open"))),
      pageHost,
      h("div", { class: "features-tools" }, tokensView(ctx, current), movedView(ctx, current)),
    );
    render();
  };

  return {
    element,
    show: (path) => {
      wanted = path.map((p) => decodeURIComponent(p));
      if (dictionaries === null) {
        dictionaries = [];
        setChildren(body, h("p", { class: "muted" }, "Loading dictionaries…"));
        void build();
      } else if (dictionaries.length) render();
    },
  };
}
