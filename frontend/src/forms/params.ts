// A form generated from a parameter description (``/api/methods``, ``/api/inspect``): no
// per-method code. Each spec gives name, type, default, help, choices, min, max (and for
// inspect verbs, required and widget).

import { field, h } from "../lib/dom";
import type { ParamSpec } from "../lib/types";

export interface ParamForm {
  element: HTMLElement;
  /** The values that differ from the defaults (plus required ones), typed; throws on bad input. */
  values(): Record<string, unknown>;
  set(name: string, value: unknown): void;
}

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

function humanize(name: string): string {
  return name.replace(/_/g, " ");
}

function control(spec: ParamSpec, id: string): Control {
  const common = { id, name: spec.name, "aria-describedby": `${id}-help` };
  if (spec.choices && spec.choices.length) {
    const sel = h("select", common);
    if (!spec.required && spec.default === null) sel.append(h("option", { value: "" }, "(default)"));
    for (const c of spec.choices) sel.append(h("option", { value: String(c), selected: c === spec.default }, String(c)));
    return sel;
  }
  if (spec.type === "bool") return h("input", { ...common, type: "checkbox", checked: spec.default === true });
  if (spec.widget === "text" || spec.widget === "lines") {
    const def = Array.isArray(spec.default) ? spec.default.join("\n") : (spec.default ?? "");
    return h("textarea", { ...common, rows: spec.widget === "lines" ? 6 : 2, value: String(def) });
  }
  if (spec.type === "int" || spec.type === "float") {
    return h("input", {
      ...common,
      type: "number",
      step: spec.type === "int" ? "1" : "any",
      min: spec.min ?? undefined,
      max: spec.max ?? undefined,
      value: spec.default === null || spec.default === undefined ? "" : String(spec.default),
      placeholder: spec.default === null ? "default" : undefined,
    });
  }
  const def = Array.isArray(spec.default) ? spec.default.join(", ") : spec.default;
  return h("input", {
    ...common,
    type: "text",
    value: def === null || def === undefined ? "" : String(def),
    placeholder: spec.type.endsWith("_list") ? "comma-separated" : spec.default === null ? "default" : undefined,
  });
}

function parse(spec: ParamSpec, c: Control): unknown {
  if (c instanceof HTMLInputElement && c.type === "checkbox") return c.checked;
  const raw = c.value;
  if (raw.trim() === "") return null;
  const label = humanize(spec.name);
  if (spec.type === "int" || spec.type === "float") {
    const v = Number(raw);
    if (!Number.isFinite(v) || (spec.type === "int" && !Number.isInteger(v))) throw new Error(`${label}: ${JSON.stringify(raw)} is not ${spec.type === "int" ? "an integer" : "a number"}.`);
    if (spec.min !== null && v < spec.min) throw new Error(`${label} must be ≥ ${spec.min}.`);
    if (spec.max !== null && v > spec.max) throw new Error(`${label} must be ≤ ${spec.max}.`);
    return v;
  }
  if (spec.type.endsWith("_list")) {
    const parts = spec.widget === "lines" ? raw.split("\n").filter((s) => s.trim()) : raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (spec.type === "int_list") {
      return parts.map((p) => {
        const v = Number(p);
        if (!Number.isInteger(v)) throw new Error(`${label}: ${JSON.stringify(p)} is not an integer.`);
        return v;
      });
    }
    return parts;
  }
  return spec.widget === "text" ? raw : raw;
}

export function paramForm(specs: ParamSpec[], prefix: string, opts: { skip?: string[] } = {}): ParamForm {
  const controls = new Map<string, [ParamSpec, Control]>();
  const shown = specs.filter((s) => !opts.skip?.includes(s.name));
  const element = h("div", { class: "param-form" });
  if (!shown.length) element.append(h("p", { class: "muted" }, "This method has no parameters."));
  for (const spec of shown) {
    const id = `${prefix}-${spec.name}`;
    const c = control(spec, id);
    controls.set(spec.name, [spec, c]);
    const wide = spec.widget === "text" || spec.widget === "lines";
    const label = field(humanize(spec.name) + (spec.required ? " *" : ""), c, spec.help);
    label.classList.toggle("wide", wide);
    if (c instanceof HTMLInputElement && c.type === "checkbox") label.classList.add("check");
    label.append(h("small", { id: `${id}-help`, class: "help" }, spec.help));
    element.append(label);
  }
  return {
    element,
    values() {
      const out: Record<string, unknown> = {};
      for (const [name, [spec, c]] of controls) {
        const v = parse(spec, c);
        if (v === null) {
          if (spec.required) throw new Error(`${humanize(name)} is required.`);
          continue;
        }
        const def = Array.isArray(spec.default) ? spec.default : spec.default;
        if (!spec.required && JSON.stringify(v) === JSON.stringify(def)) continue;
        out[name] = v;
      }
      return out;
    },
    set(name, value) {
      const entry = controls.get(name);
      if (!entry) return;
      const c = entry[1];
      if (c instanceof HTMLInputElement && c.type === "checkbox") c.checked = Boolean(value);
      else c.value = Array.isArray(value) ? value.join(entry[0].widget === "lines" ? "\n" : ", ") : String(value ?? "");
    },
  };
}
