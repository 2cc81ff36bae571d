// Choose an attribution method and its parameters; the parameter form comes from the
// method's own description (GET /api/methods).

import { field, h, setChildren } from "../lib/dom";
import type { MethodSpec } from "../lib/types";
import { paramForm, type ParamForm } from "./params";

export interface MethodPicker {
  element: HTMLElement;
  method(): string;
  params(): Record<string, unknown>;
  select(name: string): void;
  /** Set parameter values (e.g. from a link); unknown names are ignored. */
  setParams(values: Record<string, unknown>): void;
}

export function methodPicker(methods: MethodSpec[], prefix: string, initial = "occlusion"): MethodPicker {
  const select = h("select", { id: `${prefix}-method` }, methods.map((m) => h("option", { value: m.name }, m.name)));
  const about = h("p", { class: "muted method-about" });
  const host = h("div");
  let form: ParamForm = paramForm([], prefix);
  const show = (): void => {
    const spec = methods.find((m) => m.name === select.value);
    about.textContent = spec?.description ?? "";
    form = paramForm(spec?.params ?? [], `${prefix}-p`);
    setChildren(host, form.element);
  };
  select.addEventListener("change", show);
  if (methods.some((m) => m.name === initial)) select.value = initial;
  show();
  return {
    element: h("fieldset", { class: "method-picker" }, h("legend", {}, "Method"), field("method", select), about, host),
    method: () => select.value,
    params: () => form.values(),
    select(name) {
      select.value = name;
      show();
    },
    setParams(values) {
      for (const [k, v] of Object.entries(values)) form.set(k, v);
    },
  };
}
