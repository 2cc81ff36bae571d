// Explain: a prompt (chat or raw), the model's answer, and the input shaded by its attribution
// to any answer token (or the whole answer). Method and parameters come from /api/methods.

import { methodPicker } from "../../forms/method";
import { withExport } from "../../heatmap/export";
import { renderExplanation } from "../../heatmap/index";
import { api } from "../../lib/api";
import type { AppContext } from "../../lib/context";
import { button, field, h, setChildren } from "../../lib/dom";
import { runJob } from "../../lib/job";
import { hashParams, hashRoute, setHashState } from "../../lib/urlstate";
import type { Explanation } from "../../lib/types";
import { compareSection } from "./compare";

interface Request {
  prompt: string;
  raw: boolean;
  system: string | null;
  target: string | null;
  foil: string | null;
  method: string;
  params: Record<string, unknown>;
  granularity: string;
  max_new_tokens: number;
  model: string | null;
}

export function explainTab(ctx: AppContext): HTMLElement {
  const prompt = h("textarea", { id: "explain-prompt", rows: 4, value: "What is the capital of France?", required: true });
  const mode = h("select", { id: "explain-mode" }, h("option", { value: "chat" }, "chat (template)"), h("option", { value: "raw" }, "raw text"));
  const system = h("input", { id: "explain-system", type: "text", placeholder: "default system prompt" });
  const target = h("input", { id: "explain-target", type: "text", placeholder: "empty: explain the model's own answer" });
  const foil = h("input", { id: "explain-foil", type: "text", placeholder: "optional contrast, e.g. ' Lyon'" });
  const granularity = h("select", { id: "explain-granularity" }, h("option", { value: "word" }, "word"), h("option", { value: "token" }, "token"));
  const maxNew = h("input", { id: "explain-max-new", type: "number", min: 1, max: 512, value: "24" });
  const picker = methodPicker(ctx.methods, "explain");
  const status = h("div", { class: "status", id: "explain-status" });
  const answer = h("div", { class: "answer-box", id: "explain-answer" });
  const result = h("div", { id: "explain-result" });
  const side = h("div", { id: "explain-side" });
  const compareHost = h("div");

  const read = (text = prompt.value): Request => ({
    prompt: text,
    raw: mode.value === "raw",
    system: system.value.trim() || null,
    target: target.value || null,
    foil: foil.value || null,
    method: picker.method(),
    params: picker.params(),
    granularity: granularity.value,
    max_new_tokens: Number(maxNew.value) || 24,
    model: ctx.model(),
  });

  async function explain(body: Request, host: HTMLElement, title: string): Promise<Explanation | undefined> {
    const ex = await runJob(status, `Explaining with ${body.method}`, (signal, headers) => api<Explanation>("/api/explanations", { body, signal, headers }));
    if (!ex) return undefined;
    const view = renderExplanation(ex, { title });
    setChildren(host, withExport(ex, view, "explanation"));
    return ex;
  }

  async function run(): Promise<void> {
    let body: Request;
    try {
      body = read();
    } catch (e) {
      setChildren(status, h("div", { class: "error", role: "alert" }, (e as Error).message));
      return;
    }
    setChildren(side);
    const ex = await explain(body, result, `${body.method}: original prompt`);
    if (!ex) return void clear(false); // an error: nothing of the previous prompt stays beside it
    setHashState("explain", {
      prompt: body.prompt,
      method: body.method,
      params: Object.keys(body.params).length ? JSON.stringify(body.params) : null,
      target: body.target,
      foil: body.foil,
      raw: body.raw ? "1" : null,
      system: body.system,
      granularity: body.granularity === "word" ? null : body.granularity,
      max_new_tokens: body.max_new_tokens === 24 ? null : String(body.max_new_tokens),
      model: body.model,
    });
    const text = String(ex.meta.target_text ?? "");
    setChildren(
      answer,
      h("div", { class: "muted" }, ex.meta.generated ? "The model answered" : "Explaining the given target"),
      h("p", { class: "answer", id: "answer-text" }, text || "(empty answer)"),
      h("div", { class: "muted" }, "Click a token of the answer below (or “Whole answer”) to see what in the prompt drove it."),
    );
    setChildren(
      compareHost,
      compareSection(
        { prompt: body.prompt, answer: text, raw: body.raw, system: body.system, model: body.model, maxNewTokens: body.max_new_tokens },
        (edited) => void explain({ ...read(edited), target: text }, side, `${body.method}: edited prompt`),
      ),
    );
  }

  /** Clear every result of the previous run (with ``status``, its message too). */
  function clear(status_too = true): void {
    setChildren(result);
    setChildren(side);
    setChildren(answer);
    setChildren(compareHost);
    if (status_too) setChildren(status);
  }

  const form = h(
    "form",
    { class: "panel form", noValidate: true, onsubmit: (e: Event) => (e.preventDefault(), void run()) },
    field("Prompt", prompt),
    h(
      "div",
      { class: "row" },
      field("Format", mode),
      field("Target", target, "Text to explain; empty: the model's own (greedy) answer."),
      field("Foil", foil, "Contrast: explain why the target rather than the foil."),
    ),
    h(
      "details",
      {},
      h("summary", {}, "More options"),
      h("div", { class: "row" }, field("System prompt", system), field("Granularity", granularity), field("Max new tokens", maxNew)),
    ),
    picker.element,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "explain-run" }, "Explain"), button("Reset", () => clear(), "secondary"), h("span", { class: "muted small" }, "Ctrl+Enter runs")),
  );
  // a link to an explanation (#explain?prompt=…) fills the form and runs it once the page is up
  if (hashRoute() === "explain" && hashParams().get("prompt") !== null) window.setTimeout(() => restore(hashParams()), 0);
  function restore(q: URLSearchParams): void {
    prompt.value = q.get("prompt") ?? "";
    target.value = q.get("target") ?? "";
    foil.value = q.get("foil") ?? "";
    system.value = q.get("system") ?? "";
    mode.value = q.get("raw") === "1" ? "raw" : "chat";
    granularity.value = q.get("granularity") ?? "word";
    maxNew.value = q.get("max_new_tokens") ?? "24";
    if (q.get("method")) picker.select(q.get("method")!);
    try {
      picker.setParams(JSON.parse(q.get("params") ?? "{}") as Record<string, unknown>);
    } catch {
      // a hand-edited link: keep the defaults
    }
    const model = document.getElementById("model-select") as HTMLSelectElement | null;
    if (model && q.get("model") && ctx.modelNames.includes(q.get("model")!)) model.value = q.get("model")!;
    void run();
  }

  return h(
    "div",
    { class: "tab-body explain" },
    form,
    status,
    answer,
    h("div", { class: "side-by-side" }, result, side),
    compareHost,
  );
}
