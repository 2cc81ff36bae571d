// Edit the prompt and compare with the original: both answers, the change in the probability of
// the original answer (two /api/score calls), and a word diff of the prompts.

import { api } from "../../lib/api";
import { button, field, h, setChildren } from "../../lib/dom";
import { wordDiff } from "../../lib/diff";
import { num } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { Generation, TokenScores } from "../../lib/types";

export interface Original {
  prompt: string;
  answer: string;
  raw: boolean;
  system: string | null;
  model: string | null;
}

function diffView(a: string, b: string): HTMLElement {
  return h(
    "p",
    { class: "diff" },
    wordDiff(a, b).map((d) => (d.op === "same" ? d.text : h(d.op, { title: d.op === "ins" ? "added" : "removed" }, d.text))),
  );
}

function card(title: string, prompt: HTMLElement, answer: string, logp: number | null, extra?: HTMLElement): HTMLElement {
  return h(
    "div",
    { class: "card compare-card" },
    h("h4", {}, title),
    h("div", { class: "muted" }, "Prompt"),
    prompt,
    h("div", { class: "muted" }, "Answer"),
    h("p", { class: "answer" }, answer || "(empty)"),
    logp === null ? null : h("p", {}, "log p(original answer) = ", h("b", {}, num(logp)), ` · p = ${num(Math.exp(logp), 4)}`),
    extra ?? null,
  );
}

export function compareSection(original: Original, explainEdited: (prompt: string) => void): HTMLElement {
  const editor = h("textarea", { id: "edited-prompt", rows: 3, value: original.prompt, "aria-label": "Edited prompt" });
  const status = h("div", { class: "status" });
  const out = h("div", { class: "compare-grid" });
  const body = (prompt: string) => ({ prompt, raw: original.raw, system: original.system, model: original.model });
  const run = async (): Promise<void> => {
    const edited = editor.value;
    const result = await runJob(status, "Comparing", async (signal) => {
      const [gen, before, after] = await Promise.all([
        api<Generation>("/api/generate", { body: { ...body(edited), max_new_tokens: 32 }, signal }),
        api<TokenScores>("/api/score", { body: { ...body(original.prompt), target: original.answer }, signal }),
        api<TokenScores>("/api/score", { body: { ...body(edited), target: original.answer }, signal }),
      ]);
      return { gen, before, after };
    });
    if (!result) return;
    const { gen, before, after } = result;
    const delta = after.total - before.total;
    const change = h(
      "p",
      { class: `delta ${delta < 0 ? "down" : "up"}`, "data-delta": delta },
      `Δ log p = ${num(delta)} (probability ×${num(Math.exp(delta), 3)})`,
    );
    setChildren(
      out,
      card("Original", h("p", {}, original.prompt), original.answer, before.total),
      card(
        "Edited",
        diffView(original.prompt, edited),
        gen.text,
        after.total,
        h("div", {}, change, button("Explain the edited prompt", () => explainEdited(edited), "secondary small")),
      ),
    );
  };
  return h(
    "section",
    { class: "compare" },
    h("h3", {}, "What if the prompt were different?"),
    field("Edited prompt", editor, "Change words and compare: answers, probability of the original answer, word diff."),
    h("div", { class: "actions" }, button("Compare", () => void run(), "primary")),
    status,
    out,
  );
}
