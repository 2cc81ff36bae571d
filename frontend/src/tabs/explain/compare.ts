// Edit the prompt and compare with the original (POST /api/counterfactuals): both answers, the
// log-probability of the original answer under each prompt and its change, and the word diff.
// A generator (typos, synonyms, demographic swaps...) can propose edits: click one to load it.

import { paramForm, type ParamForm } from "../../forms/params";
import { api } from "../../lib/api";
import { diffView } from "../../lib/diff";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, truncate } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { CounterfactualResult, CounterfactualVariant, GeneratorSpec } from "../../lib/types";

export interface Original {
  prompt: string;
  answer: string;
  raw: boolean;
  system: string | null;
  model: string | null;
  maxNewTokens: number;
}

let generators: Promise<GeneratorSpec[]> | null = null;

function card(title: string, prompt: HTMLElement, answer: string, logp: number, extra?: HTMLElement): HTMLElement {
  return h(
    "div",
    { class: "card compare-card" },
    h("h4", {}, title),
    h("div", { class: "muted" }, "Prompt"),
    prompt,
    h("div", { class: "muted" }, "Answer"),
    h("p", { class: "answer" }, answer || "(empty)"),
    h("p", {}, "log p(original answer) = ", h("b", { class: "logp" }, num(logp)), ` · p = ${num(Math.exp(logp), 4)}`),
    extra ?? null,
  );
}

function deltaLine(delta: number): HTMLElement {
  return h("p", { class: `delta ${delta < 0 ? "down" : "up"}`, "data-delta": delta }, `Δ log p = ${num(delta)} (probability ×${num(Math.exp(delta), 3)})`);
}

export function compareSection(original: Original, explainEdited: (prompt: string) => void): HTMLElement {
  const editor = h("textarea", { id: "edited-prompt", rows: 3, value: original.prompt, "aria-label": "Edited prompt" });
  const status = h("div", { class: "status" });
  const out = h("div", { class: "compare-grid", id: "compare-result" });
  const edits = h("div", { id: "cf-edits" });
  const genSelect = h("select", { id: "cf-generator", "aria-label": "Generator" });
  const genAbout = h("p", { class: "muted small" });
  const genHost = h("div");
  let genForm: ParamForm = paramForm([], "cf-p");
  let specs: GeneratorSpec[] = [];

  const request = (extra: Record<string, unknown>) => ({
    prompt: original.prompt,
    target: original.answer,
    raw: original.raw,
    system: original.system,
    model: original.model,
    max_new_tokens: original.maxNewTokens,
    ...extra,
  });

  function show(result: CounterfactualResult, variant: CounterfactualVariant): void {
    setChildren(
      out,
      card("Original", h("p", {}, original.prompt), result.original.answer, result.original.target_logprob),
      card(
        variant.edit?.generator && variant.edit.generator !== "manual" ? `Edited (${variant.edit.label || variant.edit.generator})` : "Edited",
        diffView(variant.diff),
        variant.answer,
        variant.target_logprob,
        h("div", {}, deltaLine(variant.delta_logprob), button("Explain the edited prompt", () => explainEdited(variant.prompt), "secondary small")),
      ),
    );
  }

  async function compare(): Promise<void> {
    const edited = editor.value;
    setChildren(out);
    const result = await runJob(status, "Comparing", (signal) => api<CounterfactualResult>("/api/counterfactuals", { body: request({ edited }), signal }));
    if (result) show(result, result.variants[0]);
  }

  async function generate(): Promise<void> {
    let params: Record<string, unknown>;
    try {
      params = genForm.values();
    } catch (e) {
      setChildren(status, h("div", { class: "error", role: "alert" }, (e as Error).message));
      return;
    }
    const body = request({ generator: genSelect.value, generator_params: params });
    setChildren(edits); // the previous generator's edits never stay under a new error
    setChildren(out);
    const result = await runJob(status, `Generating edits with ${genSelect.value}`, (signal) => api<CounterfactualResult>("/api/counterfactuals", { body, signal }));
    if (!result) return;
    const items = result.variants.map((v, i) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "edit-pick",
            "data-index": i,
            onclick: (e: Event) => {
              editor.value = v.prompt;
              edits.querySelectorAll(".edit-pick").forEach((b) => b.setAttribute("aria-pressed", String(b === e.currentTarget)));
              show(result, v);
            },
          },
          h("span", { class: "edit-label" }, v.edit?.label || v.edit?.generator || `edit ${i + 1}`),
          diffView(v.diff),
          h("span", { class: `delta ${v.delta_logprob < 0 ? "down" : "up"}` }, `Δ log p ${num(v.delta_logprob)}`),
          h("span", { class: "muted small" }, ` → ${truncate(v.answer, 80)}`),
        ),
      ),
    );
    setChildren(
      edits,
      h("p", { class: "muted small" }, `${result.variants.length} edits${result.truncated ? " (the first ones)" : ""}: click one to load it into the editor and compare.`),
      h("ol", { class: "edit-list" }, items),
    );
  }

  function pick(): void {
    const spec = specs.find((s) => s.name === genSelect.value);
    genAbout.textContent = spec?.description ?? "";
    genForm = paramForm(spec?.params ?? [], "cf-p");
    setChildren(genHost, genForm.element);
  }
  genSelect.addEventListener("change", pick);
  generators ??= api<GeneratorSpec[]>("/api/counterfactuals/generators");
  generators
    .then((list) => {
      specs = list.filter((g) => g.name !== "identity");
      setChildren(genSelect, specs.map((g) => h("option", { value: g.name }, g.name)));
      genSelect.value = specs.some((g) => g.name === "synonyms") ? "synonyms" : (specs[0]?.name ?? "");
      pick();
    })
    .catch((e: Error) => setChildren(genAbout, h("span", { class: "error" }, `Generators unavailable: ${e.message}`)));

  return h(
    "section",
    { class: "compare" },
    h("h3", {}, "What if the prompt were different?"),
    field("Edited prompt", editor, "Change words and compare: answers, probability of the original answer, word diff."),
    h("div", { class: "actions" }, button("Compare", () => void compare(), "primary")),
    h(
      "details",
      { class: "generators", id: "cf-generators" },
      h("summary", {}, "Or let a generator propose edits"),
      h("div", { class: "row" }, field("Generator", genSelect), h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "cf-generate", onclick: () => void generate() }, "Generate edits"))),
      genAbout,
      genHost,
      edits,
    ),
    status,
    out,
  );
}
