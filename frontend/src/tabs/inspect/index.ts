// Inspect: look inside the model. Every verb's form is generated from GET /api/inspect and every
// result is drawn by the one heat-map component. Clicking a head in a layer × head attention
// summary opens that head's query × key map. Saved Explanation JSON files (e.g. from
// `pellucid ... --json`) can be opened and drawn the same way.

import { paramForm, type ParamForm } from "../../forms/params";
import { withExport } from "../../heatmap/export";
import { renderExplanation, type Cell } from "../../heatmap/index";
import { api } from "../../lib/api";
import type { AppContext } from "../../lib/context";
import { field, h, setChildren } from "../../lib/dom";
import { errorBox, runJob } from "../../lib/job";
import type { Explanation, VerbSpec } from "../../lib/types";
import { layerChart } from "./layer-charts";

const HIDDEN = ["model"]; // chosen in the header

export function inspectTab(ctx: AppContext, verbs: VerbSpec[]): HTMLElement {
  const select = h("select", { id: "inspect-verb" }, verbs.map((v) => h("option", { value: v.name }, v.name.replace(/_/g, " "))));
  const about = h("p", { class: "muted" });
  const formHost = h("div");
  const status = h("div", { class: "status", id: "inspect-status" });
  const result = h("div", { id: "inspect-result" });
  const drill = h("div", { id: "inspect-drill" });
  let form: ParamForm = paramForm([], "inspect");
  let lastBody: Record<string, unknown> = {};

  const show = (): void => {
    const verb = verbs.find((v) => v.name === select.value);
    about.textContent = verb?.description ?? "";
    form = paramForm(verb?.params ?? [], `inspect-${select.value}`, { skip: HIDDEN });
    setChildren(formHost, form.element);
  };
  select.addEventListener("change", show);
  if (verbs.some((v) => v.name === "head_summary")) select.value = "head_summary";
  show();

  const onCell = (cell: Cell, ex: Explanation): void => {
    // A layer × head attention summary: open the clicked head's query × key map.
    if (ex.kind === "attention" && ex.axes.join(",") === "layer,head") {
      const layer = Number(cell.labels[0]);
      const head = Number(String(cell.labels[1]).replace(/^H/, ""));
      if (Number.isInteger(layer) && Number.isInteger(head)) void openHead(layer, head);
    }
  };

  async function call(verb: string, body: Record<string, unknown>, host: HTMLElement, title?: string): Promise<void> {
    const ex = await runJob(status, `Running ${verb.replace(/_/g, " ")}`, (signal, headers) =>
      api<Explanation>(`/api/inspect/${verb}`, { body: { ...body, model: ctx.model() }, signal, headers }),
    );
    if (!ex) return;
    const rank = (): Promise<Explanation | undefined> =>
      api<Explanation>(`/api/inspect/${verb}`, { body: { ...body, model: ctx.model(), score: "rank", top_k: 1 } }).catch(() => undefined);
    setChildren(host, layerChart(ex, rank), withExport(ex, renderExplanation(ex, { onCell, title }), verb));
  }

  async function openHead(layer: number, head: number): Promise<void> {
    const body = { prompt: lastBody.prompt, chat: lastBody.chat ?? false, layers: [layer], heads: [head] };
    await call("attention", body, drill, `attention: layer ${layer}, head ${head} (query × key)`);
    drill.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  async function run(): Promise<void> {
    try {
      lastBody = form.values();
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
      return;
    }
    setChildren(drill);
    await call(select.value, lastBody, result);
  }

  const file = h("input", { type: "file", id: "inspect-file", accept: ".json,application/json" });
  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    if (!f) return;
    try {
      const ex = JSON.parse(await f.text()) as Explanation;
      if (!Array.isArray(ex.axes) || !ex.labels || !Array.isArray(ex.scores)) throw new Error("not an Explanation (needs axes, labels, scores)");
      setChildren(drill);
      const view = withExport(ex, renderExplanation(ex, { onCell, title: `${f.name}: ${ex.method}` }), ex.method);
      setChildren(result, layerChart(ex, () => Promise.resolve(undefined)), view);
    } catch (e) {
      setChildren(status, errorBox(`${f.name}: ${(e as Error).message}`));
    }
  });

  return h(
    "div",
    { class: "tab-body inspect" },
    h(
      "form",
      { class: "panel form", noValidate: true, onsubmit: (e: Event) => (e.preventDefault(), void run()) },
      h("div", { class: "row" }, field("Analysis", select), field("Open a saved Explanation (JSON)", file)),
      about,
      formHost,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "inspect-run" }, "Run")),
    ),
    status,
    result,
    drill,
  );
}
