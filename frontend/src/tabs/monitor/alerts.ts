// Alerts: the rules (enable/disable, delete, add) and the history of firings; "check now".

import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, time } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { AlertEvent, AlertRule } from "../../lib/types";

export function alertsView(): HTMLElement {
  const status = h("div", { class: "status" });
  const rules = h("div", { id: "alert-rules" });
  const events = h("div", { id: "alert-events" });
  const name = h("input", { type: "text", id: "alert-name", required: true });
  const condition = h("input", { type: "text", id: "alert-condition", required: true, placeholder: "mean(latency_ms) > 500 over 1h" });
  const action = h("select", { id: "alert-action" }, ["none", "webhook"].map((a) => h("option", { value: a }, a)));
  const target = h("input", { type: "url", id: "alert-target", placeholder: "webhook URL" });

  async function load(): Promise<void> {
    const data = await runJob(status, "Loading alerts", (signal) =>
      Promise.all([api<AlertRule[]>("/api/alerts/rules", { signal }), api<AlertEvent[]>("/api/alerts/events", { signal, query: { limit: 100 } })]),
    );
    if (!data) return;
    const [ruleList, eventList] = data;
    setChildren(
      rules,
      ruleList.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, ["Name", "Condition", "Action", "Enabled", "Last checked", "Last fired", ""].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              ruleList.map((r) => {
                const toggle = h("input", { type: "checkbox", checked: r.enabled, "aria-label": `Enable ${r.name}` });
                toggle.addEventListener("change", () => void mutate(`/api/alerts/rules/${r.id}`, "PATCH", { enabled: toggle.checked }));
                return h(
                  "tr",
                  {},
                  h("td", {}, r.name),
                  h("td", {}, h("code", {}, r.condition)),
                  h("td", {}, r.action, r.target ? ` → ${r.target}` : ""),
                  h("td", {}, toggle),
                  h("td", {}, time(r.last_checked_at)),
                  h("td", {}, time(r.last_fired_at)),
                  h("td", {}, button("Delete", () => confirm(`Delete rule ${r.name}?`) && void mutate(`/api/alerts/rules/${r.id}`, "DELETE"), "secondary small")),
                );
              }),
            ),
          )
        : h("p", { class: "muted" }, "No alert rules yet."),
    );
    setChildren(
      events,
      eventList.length
        ? h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, ["Fired", "Rule", "Value", "Message", "Delivery"].map((c) => h("th", {}, c)))),
            h("tbody", {}, eventList.map((e) => h("tr", {}, h("td", {}, time(e.fired_at)), h("td", {}, e.rule_name), h("td", { class: "num" }, num(e.value)), h("td", {}, e.message), h("td", {}, e.delivery_status)))),
          )
        : h("p", { class: "muted" }, "No alerts have fired."),
    );
  }

  async function mutate(path: string, method: string, body?: unknown): Promise<boolean> {
    const ok = await runJob(status, "Saving", (signal) => api(path, { method, body, signal }).then(() => true));
    if (ok) await load();
    return ok === true;
  }

  const form = h(
    "form",
    {
      class: "panel filters",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const form = e.currentTarget as HTMLFormElement;
        void mutate("/api/alerts/rules", "POST", { name: name.value, condition: condition.value, action: action.value, target: target.value || null }).then((ok) => {
          if (ok) form.reset(); // the rule is listed below: the form is ready for the next one
        });
      },
    },
    field("Name", name),
    field("Condition", condition, "e.g. mean(latency_ms) > 500 over 1h"),
    field("Action", action),
    field("Target", target),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add rule"), button("Check now", () => void mutate("/api/alerts/check", "POST"), "secondary")),
  );
  void load();
  return h("div", {}, form, status, h("h3", {}, "Rules"), rules, h("h3", {}, "History"), events);
}
