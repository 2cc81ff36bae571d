// Monitor: records, traces, metrics, drift, alerts and the projector, each a sub-view built when
// first shown; a record opens in a side panel from the table, a trace's span or the projector.

import type { AppContext } from "../../lib/context";
import { h, setChildren } from "../../lib/dom";
import { hashParams, hashRoute, setHashState } from "../../lib/urlstate";
import { alertsView } from "./alerts";
import { driftView } from "./drift";
import { metricsView } from "./metrics";
import { projectorView } from "./projector";
import { recordView } from "./record";
import { recordsView } from "./records";
import { tracesView } from "./traces";

const VIEWS = ["records", "traces", "metrics", "drift", "alerts", "projector"] as const;
type View = (typeof VIEWS)[number];

export interface MonitorTab {
  element: HTMLElement;
  show(view: string): void;
  openRecord(id: string, options?: { explain?: boolean }): void;
}

export function monitorTab(ctx: AppContext): MonitorTab {
  const panel = h("div", { class: "record-host" });
  /** The open record goes in the address (…?record=<id>), so a link reopens it. */
  const keepRecord = (id: string | null): void => {
    const params = Object.fromEntries(hashParams());
    setHashState(hashRoute().startsWith("monitor") ? hashRoute() : "monitor/records", { ...params, record: id });
  };
  const closeRecord = (): void => {
    setChildren(panel);
    keepRecord(null);
  };
  const openRecord = (id: string, options: { explain?: boolean } = {}): void => {
    const view = recordView(ctx, id, closeRecord, options);
    view.dataset.id = id;
    setChildren(panel, view);
    view.focus();
    keepRecord(id);
  };
  // Escape closes the record wherever the focus is (the table, the projector...)
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !panel.firstChild || !panel.isConnected || e.defaultPrevented) return;
    if (e.target instanceof HTMLSelectElement) return; // Escape closes an open list first
    closeRecord();
  });
  const builders: Record<View, () => HTMLElement> = {
    records: () => recordsView(openRecord),
    traces: () => tracesView(openRecord),
    metrics: metricsView,
    drift: driftView,
    alerts: alertsView,
    projector: () => projectorView(openRecord),
  };
  const built = new Map<View, HTMLElement>();
  const body = h("div", { class: "monitor-body" });
  const nav = h(
    "nav",
    { class: "subnav", "aria-label": "Monitor views" },
    VIEWS.map((v) => h("a", { href: `#monitor/${v}`, "data-view": v }, v[0].toUpperCase() + v.slice(1))),
  );
  const show = (name: string): void => {
    const view = (VIEWS as readonly string[]).includes(name) ? (name as View) : "records";
    if (!built.has(view)) built.set(view, builders[view]());
    nav.querySelectorAll("a").forEach((a) => a.classList.toggle("on", a.dataset.view === view));
    setChildren(body, built.get(view)!);
    const record = hashParams().get("record");
    if (record && (panel.firstElementChild as HTMLElement | null)?.dataset.id !== record) openRecord(record);
  };
  return { element: h("div", { class: "tab-body monitor" }, nav, h("div", { class: "monitor-layout" }, body, panel)), show, openRecord };
}
