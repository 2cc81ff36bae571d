// The Pellucid workbench: Explain, Inspect, Audit and Monitor tabs over the local REST API.
// Routing is by hash (#explain, #inspect, #monitor/records...), so reloads keep the place; what
// a view shows is kept after the route (#explain?prompt=…, see lib/urlstate.ts).

import "./styles.css";
import { api, ApiError, setApiToken } from "./lib/api";
import type { AppContext } from "./lib/context";
import { h, setChildren } from "./lib/dom";
import { errorBox } from "./lib/job";
import { hashRoute } from "./lib/urlstate";
import type { Health, MethodSpec, ModelInfo, VerbSpec } from "./lib/types";
import { auditTab } from "./tabs/audit/index";
import { dataTab } from "./tabs/data/index";
import { explainTab } from "./tabs/explain/index";
import { featuresTab } from "./tabs/features/index";
import { graphTab } from "./tabs/graph/index";
import { inspectTab } from "./tabs/inspect/index";
import { monitorTab } from "./tabs/monitor/index";

const TABS = [
  ["explain", "Explain"],
  ["inspect", "Inspect"],
  ["audit", "Audit"],
  ["monitor", "Monitor"],
  ["features", "Features"],
  ["graph", "Graph"],
  ["data", "Data"],
] as const;

async function main(): Promise<void> {
  const app = document.getElementById("app")!;
  let health: Health, methods: MethodSpec[], verbs: VerbSpec[], catalog: ModelInfo[];
  try {
    [health, methods, verbs, catalog] = await Promise.all([
      api<Health>("/api/health"),
      api<MethodSpec[]>("/api/methods"),
      api<VerbSpec[]>("/api/inspect"),
      api<ModelInfo[]>("/api/models").catch(() => []),
    ]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return void setChildren(app, tokenForm(e.message));
    setChildren(app, errorBox(`The workbench could not reach the server: ${(e as Error).message}`));
    return;
  }

  const names = [...new Set([...health.loaded_models, health.default_model, ...catalog.filter((c) => c.kind === "causal_lm").map((c) => c.name)])];
  const modelSelect = h(
    "select",
    { id: "model-select", "aria-label": "Model" },
    names.map((n) => h("option", { value: n, selected: n === health.default_model }, n + (health.loaded_models.includes(n) ? "" : " (not loaded)"))),
  );
  const ctx: AppContext = {
    model: () => (modelSelect.value === health.default_model ? null : modelSelect.value),
    modelNames: names,
    defaultModel: health.default_model,
    methods,
    openRecord: (id) => {
      location.hash = "#monitor/records";
      monitor.openRecord(id);
    },
  };
  const monitor = monitorTab(ctx);
  const features = featuresTab(ctx);
  const graph = graphTab(ctx);
  const panels: Record<string, HTMLElement> = {
    explain: explainTab(ctx),
    inspect: inspectTab(ctx, verbs),
    audit: auditTab(ctx),
    monitor: monitor.element,
    features: features.element,
    graph: graph.element,
    data: dataTab(ctx),
  };
  const tabButtons = TABS.map(([id, label], i) =>
    h("a", { href: `#${id}`, role: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`, onkeydown: (e: KeyboardEvent) => tabKeys(e, i) }, label),
  );
  /** The tab list's keys (WAI-ARIA tabs): ← → move and open the next tab, Home and End the first and last. */
  const tabKeys = (e: KeyboardEvent, i: number): void => {
    const n = TABS.length;
    const to = { ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    location.hash = `#${TABS[to][0]}`;
    tabButtons[to].focus();
  };
  const wrappers = Object.fromEntries(
    Object.entries(panels).map(([id, el]) => [id, h("div", { id: `panel-${id}`, role: "tabpanel", "aria-labelledby": `tab-${id}` }, el)]),
  );
  const main = h("main", { id: "main" });
  setChildren(
    app,
    h(
      "header",
      { class: "top" },
      h("div", { class: "brand" }, "Pellucid", h("span", { class: "muted" }, ` ${health.version}`)),
      h("nav", { class: "tabs", role: "tablist", "aria-label": "Workbench" }, tabButtons),
      h("label", { class: "model-pick" }, "Model ", modelSelect),
      h("a", { href: "/api/docs", class: "muted small", target: "_blank" }, "API"),
    ),
    main,
  );

  const route = (): void => {
    const [tab, sub] = hashRoute().split("/");
    const id = tab in panels ? tab : "explain";
    tabButtons.forEach((b, i) => {
      const on = TABS[i][0] === id;
      b.classList.toggle("on", on);
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1; // one tab stop for the list; arrows move inside it
    });
    if (main.firstElementChild !== wrappers[id]) setChildren(main, wrappers[id]);
    if (id === "monitor") monitor.show(sub ?? "records");
    if (id === "features") features.show(hashRoute().split("/").slice(1));
    if (id === "graph") graph.show();
  };
  window.addEventListener("hashchange", route);
  route();
}

// Ctrl+Enter (⌘+Enter) runs the form being edited: Explain, Inspect, Compare...
document.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || !(e.target instanceof Element)) return;
  const form = e.target.closest("form");
  if (form) {
    e.preventDefault();
    form.requestSubmit();
  }
});

/** A server started with an API token: ask for it once per tab. */
function tokenForm(message: string): HTMLElement {
  const input = h("input", { type: "password", id: "api-token", autocomplete: "off", required: true });
  return h(
    "form",
    {
      class: "panel token-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        setApiToken(input.value.trim());
        void main();
      },
    },
    h("h2", {}, "This Pellucid server needs its API token"),
    h("p", { class: "muted" }, message),
    h("label", { class: "field" }, h("span", { class: "field-label" }, "API token"), input),
    h("button", { type: "submit", class: "primary" }, "Continue"),
  );
}

// A token can come in the address (#token=... is never sent to the server); it is then removed.
const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fromHash) {
  setApiToken(decodeURIComponent(fromHash[1]));
  history.replaceState(null, "", location.pathname + location.search);
}
void main();
