// Choose the audit's checks — a named suite, or any set — and each check's options. The list,
// the suites and every option form come from GET /api/audit/checks (no per-check code).

import { paramForm, type ParamForm } from "../../forms/params";
import { field, h } from "../../lib/dom";
import type { AuditChecks } from "../../lib/types";

export interface CheckPicker {
  element: HTMLElement;
  /** The ticked checks, in the server's order. */
  selected(): string[];
  /** Options that differ from the defaults, per ticked check; throws on a bad value. */
  options(): Record<string, Record<string, unknown>>;
  /** Tick exactly these checks (those that can run). */
  choose(names: string[]): void;
}

export function checkPicker(data: AuditChecks): CheckPicker {
  const boxes = new Map<string, HTMLInputElement>();
  const forms = new Map<string, ParamForm>();
  const suite = h(
    "select",
    { id: "audit-suite", "aria-label": "Suite" },
    Object.keys(data.suites).map((name) => h("option", { value: name }, `${name} (${data.suites[name].length} checks)`)),
    h("option", { value: "custom" }, "custom"),
  );
  const rows = data.checks.map((check) => {
    const box = h("input", { type: "checkbox", class: "audit-pick", id: `audit-check-${check.name}`, value: check.name, disabled: !check.available });
    box.addEventListener("change", () => (suite.value = "custom"));
    boxes.set(check.name, box);
    const form = paramForm(check.params, `audit-${check.name}`);
    forms.set(check.name, form);
    return h(
      "div",
      { class: `audit-check${check.available ? "" : " unavailable"}`, "data-check": check.name },
      h("label", { class: "inline", for: box.id }, box, h("b", {}, check.name)),
      h("span", { class: "muted small" }, check.description),
      check.available ? null : h("p", { class: "small unavailable-reason" }, `Not available here: ${check.unavailable_reason}`),
      check.params.length && check.available ? h("details", {}, h("summary", {}, "options"), form.element) : null,
    );
  });
  const choose = (names: string[]): void => {
    for (const [name, box] of boxes) box.checked = !box.disabled && names.includes(name);
  };
  suite.addEventListener("change", () => {
    if (suite.value !== "custom") choose(data.suites[suite.value] ?? []);
  });
  choose(data.suites[suite.value] ?? []);
  return {
    element: h("fieldset", { class: "audit-checks" }, h("legend", {}, "Checks"), field("Suite", suite), rows),
    selected: () => data.checks.map((c) => c.name).filter((n) => boxes.get(n)?.checked),
    options() {
      const out: Record<string, Record<string, unknown>> = {};
      for (const name of this.selected()) {
        let values: Record<string, unknown>;
        try {
          values = forms.get(name)!.values();
        } catch (e) {
          throw new Error(`${name}: ${(e as Error).message}`);
        }
        if (Object.keys(values).length) out[name] = values;
      }
      return out;
    },
    choose(names) {
      suite.value = "custom";
      choose(names);
    },
  };
}
