// Beside the graph: the hover tooltip (a node's id, activation, influence and, for a feature, the
// top contexts of its transcoder latent with the activating token outlined), the pinned nodes,
// supernodes made of pinned nodes, and interventions on a node or a supernode with their result
// card (new next tokens beside the clean ones; the target's measured change beside the graph's).

import { api } from "../../lib/api";
import type { Graph, GraphNode, InterventionResult, NodeContexts } from "../../lib/api-types.generated";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, visibleToken } from "../../lib/format";
import { errorBox } from "../../lib/job";
import { activationTokens } from "../features/shared";
import type { Supernode } from "./svg";

const contextCache = new Map<string, Promise<NodeContexts>>();

/** A feature node's latent page, fetched once per (set, layer, latent). */
export function nodeContexts(set: string, node: GraphNode, model: string | null): Promise<NodeContexts> {
  const key = `${set}/${node.layer}/${node.latent}`;
  if (!contextCache.has(key)) {
    const request = api<NodeContexts>(`/api/graphs/${encodeURIComponent(set)}/features/${node.layer}/${node.latent}`, { query: { model } });
    request.catch(() => contextCache.delete(key));
    contextCache.set(key, request);
  }
  return contextCache.get(key)!;
}

function contextsView(page: NodeContexts): HTMLElement {
  if (!page.contexts.length) return h("p", { class: "muted" }, "No logged text activates this latent in the tokens read.");
  return h(
    "div",
    { class: "graph-contexts" },
    page.contexts.slice(0, 4).map((c) => h("div", { class: "feature-context" }, h("span", { class: "num" }, num(c.max, 2)), activationTokens(c.tokens, c.activations, { peak: c.peak, max: page.max_activation }))),
  );
}

/** The tooltip's content for ``node`` (the contexts arrive after). */
export function tooltipContent(node: GraphNode, set: string, model: string | null): HTMLElement {
  const facts = [
    h("strong", {}, node.id),
    ` · ${node.kind}`,
    node.token !== undefined && node.token !== null ? ` · ${JSON.stringify(node.token)}` : "",
    node.activation !== undefined && node.activation !== null ? ` · activation ${num(node.activation, 3)}` : "",
    node.probability !== undefined && node.probability !== null ? ` · p ${num(node.probability, 3)}` : "",
    ` · influence ${num(node.influence, 3)}`,
  ];
  const contexts = h("div", { id: "graph-contexts" });
  if (node.kind === "feature") {
    setChildren(contexts, h("span", { class: "muted" }, "Reading its top contexts…"));
    nodeContexts(set, node, model).then(
      (page) => setChildren(contexts, h("div", { class: "muted small" }, `top contexts (${page.source})`), contextsView(page)),
      (e: Error) => setChildren(contexts, errorBox(e.message)),
    );
  }
  return h("div", {}, h("div", {}, facts), contexts);
}

export interface PanelState {
  pinned: Set<string>;
  supernodes: Supernode[];
}

export interface PanelHandlers {
  changed(): void;
  intervene(ids: string[], scale: number, label: string): Promise<InterventionResult | undefined>;
}

function pinnedList(graph: Graph, state: PanelState, chosen: Set<string>, handlers: PanelHandlers): HTMLElement {
  if (!state.pinned.size) return h("p", { class: "muted" }, "Click a node (or focus it and press Enter) to pin it.");
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  return h(
    "ul",
    { class: "graph-pins", id: "graph-pins" },
    [...state.pinned].map((id) => {
      const node = byId.get(id);
      const box = h("input", { type: "checkbox", checked: chosen.has(id), "aria-label": `Select ${id}`, onchange: () => (box.checked ? chosen.add(id) : chosen.delete(id)) });
      const unpin = button("×", () => (state.pinned.delete(id), chosen.delete(id), handlers.changed()), "secondary small");
      unpin.setAttribute("aria-label", `Unpin ${id}`);
      return h("li", { "data-id": id }, h("label", { class: "check" }, box, ` ${id}`), node ? h("span", { class: "muted" }, ` ${node.kind}`) : null, " ", unpin);
    }),
  );
}

function resultCard(r: InterventionResult, label: string, scale: number): HTMLElement {
  const rows = Math.max(r.before.top.length, r.after.top.length);
  const cell = (t: InterventionResult["before"]["top"][number] | undefined): HTMLElement[] =>
    t ? [h("td", {}, h("code", {}, visibleToken(t.token))), h("td", { class: "num" }, num(t.probability, 4))] : [h("td"), h("td")];
  return h(
    "div",
    { class: "card graph-result", id: "graph-result" },
    h("h4", {}, `${label} × ${scale}`),
    h(
      "p",
      { class: "graph-change" },
      `Target ${JSON.stringify(r.target.token)}: measured change `,
      h("strong", { id: "graph-measured" }, num(r.measured, 4)),
      " · graph predicts ",
      h("strong", { id: "graph-predicted" }, r.predicted === null ? "–" : num(r.predicted, 4)),
      r.predicted_direct === null ? "" : h("span", { class: "muted" }, ` (direct edges only ${num(r.predicted_direct, 4)})`),
    ),
    h("p", { class: "muted small" }, `logit minus the mean logit: ${num(r.before.target_value, 4)} → ${num(r.after.target_value, 4)}`),
    h(
      "table",
      { class: "table graph-top" },
      h("thead", {}, h("tr", {}, h("th", { colspan: 2 }, "original"), h("th", { colspan: 2 }, "after"))),
      h("tbody", {}, Array.from({ length: rows }, (_, i) => h("tr", {}, cell(r.before.top[i]), cell(r.after.top[i])))),
    ),
  );
}

function interveneForm(state: PanelState, handlers: PanelHandlers, out: HTMLElement): HTMLElement {
  const features = [...state.pinned].filter((id) => id.startsWith("F"));
  const options = [
    ...features.map((id) => h("option", { value: `node:${id}` }, id)),
    ...state.supernodes.map((s, i) => h("option", { value: `group:${i}` }, `supernode ${s.name}`)),
  ];
  if (!options.length) return h("p", { class: "muted" }, "Pin a feature node (or make a supernode) to intervene on it. Error, token and logit nodes cannot be scaled.");
  const which = h("select", { id: "graph-intervene-on", "aria-label": "Node or supernode to scale" }, options);
  const scale = h("input", { type: "number", id: "graph-scale", step: "any", value: "0", min: -100, max: 100 });
  const run = async (): Promise<void> => {
    const [kind, key] = which.value.split(/:(.*)/s);
    const group = kind === "group" ? state.supernodes[Number(key)] : null;
    const ids = group ? group.ids : [key];
    const label = group ? `supernode ${group.name}` : key;
    const value = Number(scale.value);
    const result = await handlers.intervene(ids, value, label);
    if (result) setChildren(out, resultCard(result, label, value));
  };
  return h(
    "form",
    { class: "graph-intervene", onsubmit: (e: Event) => (e.preventDefault(), void run()) },
    field("Node or supernode", which),
    field("Scale (0 ablates, 2 doubles)", scale),
    h("button", { type: "submit", class: "primary", id: "graph-intervene" }, "Intervene"),
  );
}

/** The side panel: pinned nodes, supernodes, interventions; ``render`` redraws it from ``state``. */
export function sidePanel(graph: Graph, state: PanelState, handlers: PanelHandlers): { element: HTMLElement; render(): void } {
  const chosen = new Set<string>();
  const body = h("div");
  const out = h("div", { id: "graph-result-host" });
  const name = h("input", { type: "text", id: "graph-group-name", placeholder: "name", "aria-label": "Supernode name" });
  const note = h("span", { class: "muted small", role: "status" });
  const group = (): void => {
    const ids = [...chosen].filter((id) => state.pinned.has(id));
    if (ids.length < 2) return void setChildren(note, "Tick at least two pinned nodes to group them.");
    state.supernodes.push({ name: name.value.trim() || `group ${state.supernodes.length + 1}`, ids });
    chosen.clear();
    name.value = "";
    setChildren(note);
    handlers.changed();
  };
  const render = (): void => {
    setChildren(
      body,
      h("h3", {}, "Pinned"),
      pinnedList(graph, state, chosen, handlers),
      h("div", { class: "actions" }, name, button("Group as supernode", group, "secondary small"), note),
      h("h3", {}, "Supernodes"),
      state.supernodes.length
        ? h("ul", { class: "graph-groups", id: "graph-groups" }, state.supernodes.map((s, i) => h("li", { "data-name": s.name }, h("strong", {}, s.name), ` ${s.ids.join(", ")} `, button("Ungroup", () => (state.supernodes.splice(i, 1), handlers.changed()), "secondary small"))))
        : h("p", { class: "muted" }, "None: tick pinned nodes and group them."),
      h("h3", {}, "Intervene"),
      interveneForm(state, handlers, out),
    );
  };
  render();
  return { element: h("aside", { class: "panel graph-side", id: "graph-side" }, body, out), render };
}
