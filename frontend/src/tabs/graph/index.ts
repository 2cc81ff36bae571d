// Graph: a prompt's attribution graph over a served transcoder set (pellucid serve --transcoders DIR).
// The form starts a job (POST /api/graphs), followed live with its progress and a Cancel button; the
// finished graph is drawn as SVG (svg.ts) under its scores and self-check, with the pinned nodes,
// supernodes and interventions beside it (panel.ts). The address keeps the form, the job, the pins and
// the supernodes (#graph?prompt=…&set=…&job=…&pins=…&groups=…), so a reload or a link reopens the view.

import { api, ApiError } from "../../lib/api";
import type { Graph, GraphJob, InterventionResult, NeuronpediaGraph, TranscoderSetInfo } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { button, field, h, setChildren } from "../../lib/dom";
import { download } from "../../lib/download";
import { num } from "../../lib/format";
import { errorBox, notice, runJob } from "../../lib/job";
import { hashParams, setHashState } from "../../lib/urlstate";
import { sidePanel, tooltipContent, type PanelState } from "./panel";
import { graphView, KIND_COLOURS, type Supernode } from "./svg";

const POLL_MS = 300;
const ACTIVE = new Set(["queued", "running"]);

function scores(job: GraphJob): HTMLElement {
  const g = job.graph!;
  const check = g.meta.self_check as Record<string, unknown> | undefined;
  const figures: [string, string][] = [
    ["replacement", num(g.scores.replacement, 3)],
    ["completeness", num(g.scores.completeness, 3)],
    ["pruned replacement", num(g.scores.pruned_replacement, 3)],
    ["pruned completeness", num(g.scores.pruned_completeness, 3)],
    ["nodes / edges", `${g.nodes.length} / ${g.edges.length}`],
  ];
  if (check && typeof check.measured === "number")
    figures.push([`self-check (${String(check.ablated)} top features ablated)`, `measured ${num(check.measured, 3)} · predicted ${num(check.predicted as number, 3)} · agreement ${num(check.agreement as number, 2)}`]);
  const legend = Object.entries(KIND_COLOURS).map(([kind, colour]) => h("span", { class: "graph-key" }, h("span", { class: "swatch", style: { background: colour } }), kind));
  return h(
    "div",
    { class: "graph-scores", id: "graph-scores" },
    h("div", { class: "graph-figures" }, figures.map(([k, v]) => h("span", { class: "graph-figure" }, h("span", { class: "muted" }, `${k} `), h("strong", {}, v)))),
    typeof check?.warning === "string" && h("div", { class: "notice", id: "graph-check-warning" }, `Self-check: ${check.warning}.`),
    h("div", { class: "muted small" }, legend, h("span", { class: "graph-key" }, h("span", { class: "swatch pos" }), "positive edge"), h("span", { class: "graph-key" }, h("span", { class: "swatch neg" }), "negative edge")),
  );
}

function progressView(job: GraphJob, cancel: () => void): HTMLElement {
  const p = job.progress;
  const rows = p.current_total ? ` — rows ${p.current_done} of ${p.current_total}` : "";
  return h(
    "div",
    { class: "card", id: "graph-progress", "data-status": job.status },
    h("span", { class: "spinner" }),
    ` ${job.status === "queued" ? "waiting for the job before it" : `building the graph${rows}`} `,
    h("progress", { max: 1, value: p.fraction, "aria-label": "Graph progress" }),
    job.seconds === null ? "" : h("span", { class: "elapsed" }, ` ${num(job.seconds, 1)} s `),
    button("Cancel", cancel, "secondary small"),
  );
}

export function graphTab(ctx: AppContext): { element: HTMLElement; show(): void } {
  const prompt = h("textarea", { id: "graph-prompt", rows: 2, required: true, placeholder: "The Eiffel Tower is located in the city of" });
  const target = h("input", { type: "text", id: "graph-target", placeholder: "default: the likeliest tokens" });
  const set = h("select", { id: "graph-set", "aria-label": "Transcoder set" });
  const chat = h("input", { type: "checkbox", id: "graph-chat" });
  const nodeT = h("input", { type: "number", id: "graph-node-threshold", min: 0, max: 1, step: "any", value: "0.8" });
  const edgeT = h("input", { type: "number", id: "graph-edge-threshold", min: 0, max: 1, step: "any", value: "0.98" });
  const maxNodes = h("input", { type: "number", id: "graph-max-nodes", min: 0, max: 5000, value: "500" });
  const status = h("div", { class: "status", id: "graph-status" });
  const result = h("div", { id: "graph-result-view" });
  const body = h("div");
  const element = h("div", { class: "tab-body graph-tab" }, body);
  let shown: GraphJob | null = null;
  let following = 0;
  let state: PanelState = { pinned: new Set(), supernodes: [] };
  let built = false;

  const saveState = (): void =>
    setHashState("graph", {
      prompt: prompt.value, set: set.value, target: target.value, chat: chat.checked ? "1" : null, nt: nodeT.value, et: edgeT.value, max: maxNodes.value,
      job: shown?.id, pins: [...state.pinned].join(","), groups: state.supernodes.length ? JSON.stringify(state.supernodes) : null,
    }); // prettier-ignore

  const intervene = (ids: string[], scale: number, label: string): Promise<InterventionResult | undefined> =>
    runJob(status, `Intervening on ${label}`, (signal) =>
      api<InterventionResult>("/api/graphs/intervene", {
        body: { prompt: shown!.params.prompt, chat: shown!.params.chat, transcoders: shown!.params.transcoders, model: shown!.params.model, graph: shown!.id, interventions: [{ nodes: ids, scale }] },
        signal,
      }),
    );

  function display(job: GraphJob): void {
    shown = job;
    const graph = job.graph!;
    const tooltip = h("div", { class: "tooltip graph-tooltip", id: "graph-tooltip", hidden: true });
    const canvas = h("div", { class: "graph-canvas" });
    const redraw = (): void => (view.update(state.pinned, state.supernodes), panel.render(), saveState());
    const panel = sidePanel(graph, state, { changed: redraw, intervene });
    const width = Math.max(320, (element.clientWidth || 1000) - (window.innerWidth > 900 ? 320 : 40));
    const view = graphView(graph, width, {
      hover: (node, at) => {
        tooltip.hidden = node === null;
        if (!node || !at) return;
        setChildren(tooltip, tooltipContent(node, job.params.transcoders, job.params.model));
        tooltip.style.left = `${at.x + 14}px`;
        tooltip.style.top = `${at.y + 12}px`;
      },
      toggle: (node) => (state.pinned.has(node.id) ? state.pinned.delete(node.id) : state.pinned.add(node.id), redraw()),
    });
    setChildren(canvas, view.element, tooltip);
    const exports = h(
      "div",
      { class: "export-bar" },
      button("Export graph JSON", () => download(`graph-${job.id.slice(0, 8)}.json`, JSON.stringify(graph, null, 1), "application/json"), "secondary small"),
      button("Export Neuronpedia JSON", () => void exportNeuronpedia(job), "secondary small"),
    );
    setChildren(result, h("div", { class: "result" }, exports, scores(job), h("div", { class: "graph-layout" }, h("div", { class: "graph-scroll" }, canvas), panel.element)));
    redraw();
  }

  /** Our node id as circuit-tracer names it (docs/circuits.md), so pins and supernodes travel with the export. */
  const neuronpediaId = (graph: Graph, id: string): string => {
    const node = graph.nodes.find((n) => n.id === id);
    if (!node) return id;
    if (node.kind === "feature") return `${node.layer}_${node.latent}_${node.position}`;
    if (node.kind === "error") return `0_${node.layer}_${node.position}`;
    if (node.kind === "token") return `E_${graph.token_ids[node.position]}_${node.position}`;
    return `${graph.n_layers + 1}_${node.token_id}_${node.position}`;
  };

  async function exportNeuronpedia(job: GraphJob): Promise<void> {
    const data = await runJob(status, "Exporting", (signal) => api<NeuronpediaGraph>(`/api/graphs/${job.id}/neuronpedia`, { signal }));
    const graph = job.graph!;
    if (data) data.qParams = { ...data.qParams, pinnedIds: [...state.pinned].map((id) => neuronpediaId(graph, id)), supernodes: state.supernodes.map((s) => [s.name, ...s.ids.map((id) => neuronpediaId(graph, id))]) };
    if (data) download(`graph-${job.id.slice(0, 8)}-neuronpedia.json`, JSON.stringify(data), "application/json");
  }

  async function follow(id: string, restored?: PanelState): Promise<void> {
    const me = ++following;
    setChildren(status);
    for (;;) {
      let job: GraphJob;
      try {
        job = await api<GraphJob>(`/api/graphs/${id}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404 && restored) return void start(restored);
        return void setChildren(status, errorBox((e as Error).message));
      }
      if (me !== following) return;
      if (!ACTIVE.has(job.status)) {
        setChildren(status);
        if (job.status === "done") {
          state = restored ?? { pinned: new Set(), supernodes: [] };
          display(job);
        } else setChildren(status, job.status === "failed" ? errorBox(job.error ?? "The graph failed.") : notice(job.error ?? "The graph was cancelled."));
        return;
      }
      setChildren(status, progressView(job, () => void api(`/api/graphs/${id}`, { method: "DELETE" }).catch(() => undefined)));
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function start(restored?: PanelState): Promise<void> {
    const body = {
      prompt: prompt.value, transcoders: set.value, target: target.value || null, chat: chat.checked, model: ctx.model(),
      node_threshold: Number(nodeT.value), edge_threshold: Number(edgeT.value), max_feature_nodes: Number(maxNodes.value),
    }; // prettier-ignore
    setChildren(result);
    shown = null;
    try {
      const job = await api<GraphJob>("/api/graphs", { body });
      shown = job;
      saveState();
      await follow(job.id, restored);
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
    }
  }

  function restore(): void {
    const p = hashParams();
    if (p.get("prompt") === null) return;
    prompt.value = p.get("prompt") ?? "";
    target.value = p.get("target") ?? "";
    chat.checked = p.get("chat") === "1";
    if (p.get("set")) set.value = p.get("set")!;
    for (const [input, key] of [[nodeT, "nt"], [edgeT, "et"], [maxNodes, "max"]] as const) if (p.get(key)) input.value = p.get(key)!;
    const groups = JSON.parse(p.get("groups") || "[]") as Supernode[];
    const restored: PanelState = { pinned: new Set((p.get("pins") ?? "").split(",").filter(Boolean)), supernodes: groups };
    const job = p.get("job");
    void (job ? follow(job, restored) : start(restored));
  }

  async function build(): Promise<void> {
    let sets: TranscoderSetInfo[];
    try {
      sets = await api<TranscoderSetInfo[]>("/api/graphs/transcoders");
    } catch (e) {
      return void setChildren(body, errorBox((e as Error).message));
    }
    if (!sets.length) return void setChildren(body, notice("This server serves no transcoder set: start it with pellucid serve --transcoders DIR (or PELLUCID_TRANSCODERS)."));
    setChildren(set, sets.map((s) => h("option", { value: s.name, disabled: !!s.error, title: s.error ?? `${s.model} · layers ${s.layers?.join(",")} · ${s.width} latents` }, s.name + (s.error ? " (unreadable)" : ""))));
    const form = h(
      "form",
      { class: "panel graph-form", id: "graph-form", onsubmit: (e: Event) => (e.preventDefault(), void start()) },
      field("Prompt", prompt),
      h("div", { class: "row" }, field("Target token", target), field("Transcoders", set), field("Node threshold", nodeT), field("Edge threshold", edgeT), field("Max feature nodes", maxNodes), h("label", { class: "check" }, chat, " chat template")),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "graph-run" }, "Build graph")),
    );
    setChildren(body, form, status, result);
    restore();
  }

  return {
    element,
    show: () => {
      if (built) return;
      built = true;
      void build();
    },
  };
}
