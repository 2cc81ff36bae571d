// The attribution graph as SVG: rows are layers top to bottom (the token embeddings first, then
// layer 0 … N-1, the logits last), columns the prompt's positions (token text as labels). Nodes are
// coloured by kind; an edge's width grows with |weight| and its colour is its sign. Nodes are
// focusable: hover or focus shows the tooltip, click / Enter / Space pins. Pinned nodes and their
// edges are highlighted; a supernode is drawn as one box around its members.

import type { Graph, GraphNode } from "../../lib/api-types.generated";
import { visibleToken, truncate } from "../../lib/format";

const NS = "http://www.w3.org/2000/svg";
const ROW = 58;
const TOP = 34;
const LEFT = 70;
const MAX_EDGES = 600;
export const KIND_COLOURS: Record<string, string> = { feature: "#6d28d9", error: "#8a919c", token: "#1e7a3c", logit: "#b45309" };

export interface Supernode {
  name: string;
  ids: string[];
}

export interface GraphView {
  element: SVGSVGElement;
  /** Redraw the highlights: pinned nodes, their edges, the supernode boxes. */
  update(pinned: Set<string>, supernodes: Supernode[]): void;
}

export interface GraphEvents {
  hover(node: GraphNode | null, at: { x: number; y: number } | null): void;
  toggle(node: GraphNode): void;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Row of a node: embeddings (layer -1) on row 0, layer L on row L + 1, the logits last. */
const rowOf = (n: GraphNode): number => n.layer + 1;

/** x, y of every node: spread inside its (row, position) cell. */
function layout(graph: Graph, col: number): Map<string, { x: number; y: number }> {
  const cells = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) {
    const key = `${rowOf(n)}:${n.position}`;
    cells.set(key, [...(cells.get(key) ?? []), n]);
  }
  const at = new Map<string, { x: number; y: number }>();
  const logits = graph.nodes.filter((n) => n.kind === "logit");
  const step = Math.min(44, (col * graph.tokens.length - 20) / Math.max(1, logits.length));
  const end = LEFT + col * (graph.tokens.length - 0.5);
  logits.forEach((n, i) => at.set(n.id, { x: Math.max(LEFT + 10, end - step * (logits.length - 1)) + step * i, y: TOP + ROW * (rowOf(n) + 0.5) }));
  for (const members of cells.values()) {
    if (members[0].kind === "logit") continue;
    members.forEach((n, i) => {
      const step = Math.min(16, (col - 12) / Math.max(1, members.length));
      const x = LEFT + col * (n.position + 0.5) + (i - (members.length - 1) / 2) * step;
      at.set(n.id, { x, y: TOP + ROW * (rowOf(n) + 0.5) });
    });
  }
  return at;
}

function shape(n: GraphNode, p: { x: number; y: number }): SVGElement {
  const fill = KIND_COLOURS[n.kind];
  if (n.kind === "feature") return el("circle", { cx: p.x, cy: p.y, r: 6, fill });
  if (n.kind === "error") return el("rect", { x: p.x - 5, y: p.y - 5, width: 10, height: 10, fill });
  return el("rect", { x: p.x - 7, y: p.y - 5, width: 14, height: 10, rx: 3, fill });
}

function rowLabels(svg: SVGSVGElement, graph: Graph, width: number): void {
  const rows = graph.n_layers + 2;
  for (let r = 0; r < rows; r++) {
    const label = r === 0 ? "embed" : r === rows - 1 ? "logits" : `L${r - 1}`;
    const y = TOP + ROW * (r + 0.5);
    svg.append(el("line", { x1: LEFT, x2: width, y1: y, y2: y, class: "graph-row" }));
    const t = el("text", { x: 4, y: y + 4, class: "graph-label" });
    t.textContent = label;
    svg.append(t);
  }
}

function columnLabels(svg: SVGSVGElement, graph: Graph, col: number): void {
  graph.tokens.forEach((tok, i) => {
    const t = el("text", { x: LEFT + col * (i + 0.5), y: 18, "text-anchor": "middle", class: "graph-label graph-token" });
    t.textContent = truncate(visibleToken(tok), Math.max(3, Math.floor(col / 7)));
    const title = el("title");
    title.textContent = `position ${i}: ${JSON.stringify(tok)}`;
    t.append(title);
    svg.append(t);
  });
}

function edgeLines(graph: Graph, at: Map<string, { x: number; y: number }>): SVGGElement {
  const group = el("g", { class: "graph-edges" });
  const shown = graph.edges.slice(0, MAX_EDGES);
  const top = Math.max(1e-12, ...shown.map((e) => Math.abs(e.weight)));
  for (const e of shown) {
    const a = at.get(e.source);
    const b = at.get(e.target);
    if (!a || !b) continue;
    const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, "stroke-width": (0.4 + (3.6 * Math.abs(e.weight)) / top).toFixed(2), class: `graph-edge ${e.weight >= 0 ? "pos" : "neg"}` });
    line.dataset.source = e.source;
    line.dataset.target = e.target;
    group.append(line);
  }
  return group;
}

function nodeGroup(n: GraphNode, p: { x: number; y: number }, events: GraphEvents): SVGGElement {
  const g = el("g", { class: `graph-node ${n.kind}`, tabindex: 0, role: "button", "data-id": n.id, "aria-pressed": "false" });
  g.setAttribute("aria-label", `${n.kind} node ${n.id}${n.token !== undefined && n.token !== null ? ` (${JSON.stringify(n.token)})` : ""}`);
  g.append(el("circle", { cx: p.x, cy: p.y, r: 11, class: "graph-hit" }), shape(n, p));
  if (n.kind === "logit") {
    const label = el("text", { x: p.x, y: p.y + 18, "text-anchor": "middle", class: "graph-label" });
    label.textContent = truncate(visibleToken(n.token ?? ""), 6);
    g.append(label);
  }
  const show = (): void => events.hover(n, p);
  g.addEventListener("mouseenter", show);
  g.addEventListener("focus", show);
  g.addEventListener("mouseleave", () => events.hover(null, null));
  g.addEventListener("blur", () => events.hover(null, null));
  g.addEventListener("click", () => events.toggle(n));
  g.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      events.toggle(n);
    }
  });
  return g;
}

export function graphView(graph: Graph, width: number, events: GraphEvents): GraphView {
  const col = Math.max(46, Math.min(140, (width - LEFT - 10) / Math.max(1, graph.tokens.length)));
  const w = LEFT + col * graph.tokens.length + 10;
  const h = TOP + ROW * (graph.n_layers + 2) + 10;
  const svg = el("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "graph-svg", id: "graph-svg", role: "group" });
  svg.setAttribute("aria-label", `Attribution graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges; Tab moves between nodes, Enter pins`);
  const at = layout(graph, col);
  rowLabels(svg, graph, w);
  columnLabels(svg, graph, col);
  const boxes = el("g", { class: "graph-supernodes" });
  const edges = edgeLines(graph, at);
  svg.append(boxes, edges);
  const nodes = new Map<string, SVGGElement>();
  for (const n of graph.nodes) {
    const g = nodeGroup(n, at.get(n.id)!, events);
    nodes.set(n.id, g);
    svg.append(g);
  }
  const update = (pinned: Set<string>, supernodes: Supernode[]): void => {
    svg.classList.toggle("has-pins", pinned.size > 0);
    for (const [id, g] of nodes) {
      g.classList.toggle("pinned", pinned.has(id));
      g.setAttribute("aria-pressed", String(pinned.has(id)));
    }
    for (const line of edges.querySelectorAll<SVGLineElement>("line")) line.classList.toggle("hl", pinned.has(line.dataset.source!) || pinned.has(line.dataset.target!));
    boxes.replaceChildren();
    for (const s of supernodes) {
      const points = s.ids.map((id) => at.get(id)).filter((p): p is { x: number; y: number } => p !== undefined);
      if (!points.length) continue;
      const [x0, x1] = [Math.min(...points.map((p) => p.x)) - 14, Math.max(...points.map((p) => p.x)) + 14];
      const [y0, y1] = [Math.min(...points.map((p) => p.y)) - 14, Math.max(...points.map((p) => p.y)) + 14];
      const box = el("g", { class: "graph-supernode", "data-name": s.name });
      const label = el("text", { x: x0 + 3, y: y0 - 3, class: "graph-label" });
      label.textContent = s.name;
      box.append(el("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 8 }), label);
      boxes.append(box);
    }
  };
  return { element: svg, update };
}
