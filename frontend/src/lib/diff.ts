// Word diffs as the server computes them (equal / replace / delete / insert over word lists),
// drawn as text with <del> for removed and <ins> for added words.

import { h } from "./dom";
import type { WordDiffOp } from "./types";

type Run = { kind: "same" | "del" | "ins"; words: string[] };

const NO_SPACE_BEFORE = /^[.,;:!?)\]}%'’]$/;
const NO_SPACE_AFTER = /^[([{]$/;

/** Words joined as text: a space between words, none before closing punctuation or after opening. */
export function joinWords(words: string[], after = ""): string {
  let out = "";
  let previous = after;
  for (const w of words) {
    const space = previous !== "" && !NO_SPACE_BEFORE.test(w) && !NO_SPACE_AFTER.test(previous);
    out += (space ? " " : "") + w;
    previous = w;
  }
  return out;
}

function runs(ops: WordDiffOp[]): Run[] {
  const out: Run[] = [];
  for (const op of ops) {
    if (op.op === "equal") out.push({ kind: "same", words: op.new });
    if (op.op === "delete" || op.op === "replace") out.push({ kind: "del", words: op.old });
    if (op.op === "insert" || op.op === "replace") out.push({ kind: "ins", words: op.new });
  }
  return out.filter((r) => r.words.length);
}

/** The edited text with its changes marked, from the server's word diff. */
export function diffView(ops: WordDiffOp[]): HTMLElement {
  let last = "";
  const parts = runs(ops).map((run) => {
    const text = joinWords(run.words, last);
    last = run.words[run.words.length - 1];
    const lead = text.startsWith(" ") ? " " : "";
    if (run.kind === "same") return text;
    return [lead, h(run.kind, { title: run.kind === "ins" ? "added" : "removed" }, text.slice(lead.length))];
  });
  return h("p", { class: "diff" }, parts);
}
