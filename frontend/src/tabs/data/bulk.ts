// Bulk actions on the selected rows of the data-set table: run the model (answers, target
// scores, metrics, flags), explain each row (POST /api/explanations) and aggregate the
// attributions (POST /api/datasets/aggregate, shown as a bar list), or run a counterfactual
// generator on each row (POST /api/counterfactuals). One job at a time, with "k / n rows"
// progress and Cancel, as elsewhere in the workbench.

import { methodPicker } from "../../forms/method";
import { barsView } from "../../heatmap/bars";
import { makeScale } from "../../heatmap/scale";
import { api } from "../../lib/api";
import type { ExampleRun, WordWeight } from "../../lib/api-types.generated";
import type { AppContext } from "../../lib/context";
import { button, field, h, setChildren } from "../../lib/dom";
import { num } from "../../lib/format";
import { notice, runJob } from "../../lib/job";
import type { CounterfactualResult, Explanation, GeneratorSpec } from "../../lib/types";
import type { DataRow, DataTable } from "./table";

const RUN_BLOCK = 8; // examples per /api/datasets/run request

/** The strongest words of one explanation (summed over the target axis), for the result column. */
function topWords(ex: Explanation, n = 3): string {
  const words = ex.labels[ex.axes[ex.axes.length - 1]] ?? [];
  const rows = (ex.axes.length === 1 ? [ex.scores] : ex.scores) as (number | null)[][];
  const sums = words.map((_, j) => rows.reduce((s, r) => s + (r[j] ?? 0), 0));
  return words
    .map((w, j) => [w.trim(), sums[j]] as const)
    .filter(([w]) => w)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .slice(0, n)
    .map(([w, v]) => `${w} ${num(v, 2)}`)
    .join(", ");
}

/** ``raw()``: send the prompts as plain text (a templated file), not in the model's chat template. */
export function bulkActions(ctx: AppContext, table: DataTable, raw: () => boolean): HTMLElement {
  const status = h("div", { class: "status", id: "data-status" });
  const fraction = h("span", { class: "muted", id: "data-progress", "aria-live": "polite" });
  const aggregate = h("div", { id: "data-aggregate" });
  const picker = methodPicker(ctx.methods, "data");
  const generator = h("select", { id: "data-generator" });
  void api<GeneratorSpec[]>("/api/counterfactuals/generators").then((gs) => setChildren(generator, gs.map((g) => h("option", { value: g.name, title: g.description }, g.name))), () => undefined);
  const explanations = new Map<string, Explanation>();

  /** Run ``step`` on each selected row (or block of rows) in turn, with progress and Cancel. */
  async function eachSelected(label: string, step: (rows: DataRow[], signal: AbortSignal) => Promise<void>, block = 1): Promise<boolean> {
    const rows = table.selected();
    if (!rows.length) return void setChildren(status, notice("Select some rows first (the checkboxes of the table).")), false;
    const done = await runJob(status, label, async (signal) => {
      for (let i = 0; i < rows.length; i += block) {
        fraction.textContent = `${i} / ${rows.length} rows`;
        await step(rows.slice(i, i + block), signal);
        table.refresh();
      }
      fraction.textContent = `${rows.length} / ${rows.length} rows`;
      return true;
    });
    table.refresh();
    return done === true;
  }

  const runModel = (): Promise<boolean> =>
    eachSelected(
      "Running the model",
      async (rows, signal) => {
        const body = { examples: rows.map((r) => ({ prompt: r.prompt, target: r.target })), model: ctx.model(), raw: raw() };
        const runs = await api<ExampleRun[]>("/api/datasets/run", { body, signal });
        runs.forEach((run, i) => Object.assign(rows[i], { answer: run.answer, metrics: { ...rows[i].metrics, ...run.metrics }, flags: Object.keys(run.flags) }));
      },
      RUN_BLOCK,
    );

  async function explainRows(): Promise<void> {
    const ok = await eachSelected(`Explaining with ${picker.method()}`, async ([row], signal) => {
      const body = { prompt: row.prompt, target: row.target ?? row.answer ?? null, method: picker.method(), params: picker.params(), model: ctx.model(), raw: raw() };
      const ex = await api<Explanation>("/api/explanations", { body, signal });
      explanations.set(row.key, ex);
      row.result = topWords(ex);
    });
    if (ok) await showAggregate();
  }

  /** The mean attribution per word over the selected rows that have an explanation. */
  async function showAggregate(): Promise<void> {
    const chosen = table.selected().map((r) => explanations.get(r.key)).filter((e): e is Explanation => e !== undefined);
    if (!chosen.length) return;
    const words = await runJob(status, "Aggregating", (signal) => api<WordWeight[]>("/api/datasets/aggregate", { body: { explanations: chosen, top: 25 }, signal }));
    if (!words) return;
    const values = words.map((w) => w.mean);
    setChildren(
      aggregate,
      h("h3", {}, `Aggregate attribution over ${chosen.length} row${chosen.length === 1 ? "" : "s"}`),
      h("p", { class: "muted" }, "Each word's attribution summed within a row, averaged over the rows that contain it; strongest first."),
      barsView("input", words.map((w) => `${w.word} (${w.rows})`), values, makeScale(values, true)),
    );
  }

  const counterfactuals = (): Promise<boolean> =>
    eachSelected(`Counterfactuals (${generator.value})`, async ([row], signal) => {
      const body = { prompt: row.prompt, generator: generator.value, target: row.target ?? undefined, model: ctx.model(), raw: raw(), max_new_tokens: 16 };
      const cf = await api<CounterfactualResult>("/api/counterfactuals", { body, signal });
      const deltas = cf.variants.map((v) => v.delta_logprob);
      const worst = deltas.length ? deltas.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)) : null;
      row.result = cf.variants.length ? `${cf.variants.length} edits, largest Δ log p ${num(worst, 2)}` : "no edit applies";
    });

  return h(
    "div",
    { class: "data-bulk" },
    h(
      "div",
      { class: "panel bulk-actions" },
      h("h3", {}, "Selected rows"),
      h("div", { class: "actions" }, button("Run model", () => void runModel(), "primary"), fraction),
      picker.element,
      h("div", { class: "actions" }, button("Explain selected", () => void explainRows(), "primary")),
      field("Counterfactual generator", generator),
      h("div", { class: "actions" }, button("Counterfactual selected", () => void counterfactuals(), "secondary")),
    ),
    status,
    aggregate,
  );
}
