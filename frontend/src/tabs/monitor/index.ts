// Monitor: records, traces, metrics, drift, alerts and the projector, each a sub-view built when
// first shown; a record opens in a side panel from the table, a trace's span or the projector.

import type { AppContext } from "../../lib/context";
import { h, setChildren } from "../../lib/dom";
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
  const openRecord = (id: string, options: { explain?: boolean } = {}): void => {
    const view = recordView(ctx, id, () => setChildren(panel), options);
    setChildren(panel, view);
    view.focus();
  };
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
  };
  return { element: h("div", { class: "tab-body monitor" }, nav, h("div", { class: "monitor-layout" }, body, panel)), show, openRecord };
}
