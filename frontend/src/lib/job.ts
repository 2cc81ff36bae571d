// Long requests: a spinner with the elapsed time and a Cancel button (AbortController), and the
// server's error message in place of a blank panel. Work that reports progress on the server
// (perturbed prompts, gradient steps, forward passes) shows it as a fraction: the request names
// itself with an X-Pellucid-Progress header and GET /api/progress/{id} is polled while it runs.

import { api, isAbort } from "./api";
import type { RequestProgress } from "./api-types.generated";
import { button, h, setChildren } from "./dom";

export function errorBox(message: string): HTMLElement {
  return h("div", { class: "error", role: "alert" }, h("strong", {}, "Error: "), message);
}

export function notice(message: string): HTMLElement {
  return h("div", { class: "notice" }, message);
}

/**
 * Run ``work`` while ``status`` shows progress; on failure ``status`` shows the error.
 * Resolves to the result, or ``undefined`` when cancelled or failed.
 */
/** Headers that ask the server to keep a request's progress under ``id`` (see the file header). */
export type ProgressHeaders = Record<string, string>;

/** Follow ``id`` until ``stopped``: the bar and "done / total" once the server reports them. */
function followProgress(id: string, bar: HTMLProgressElement, text: HTMLElement, stopped: () => boolean): void {
  const poll = async (): Promise<void> => {
    if (stopped()) return;
    try {
      const p = await api<RequestProgress>(`/api/progress/${id}`);
      if (!stopped() && p.total) {
        bar.hidden = false;
        bar.max = p.total;
        bar.value = p.done ?? 0;
        text.textContent = ` ${(p.done ?? 0).toLocaleString()} / ${p.total.toLocaleString()} (${Math.round((p.fraction ?? 0) * 100)} %)`;
      }
    } catch {
      // not started yet, or already finished: nothing to show
    }
    if (!stopped()) window.setTimeout(() => void poll(), 400);
  };
  window.setTimeout(() => void poll(), 300);
}

export async function runJob<T>(
  status: HTMLElement,
  label: string,
  work: (signal: AbortSignal, progress: ProgressHeaders) => Promise<T>,
): Promise<T | undefined> {
  const controller = new AbortController();
  const started = performance.now();
  const elapsed = h("span", { class: "elapsed" }, "0.0 s");
  const cancel = button("Cancel", () => controller.abort(), "secondary small");
  const bar = h("progress", { class: "job-progress", hidden: true, "aria-label": `${label}: progress` });
  const fraction = h("span", { class: "job-fraction" });
  setChildren(
    status,
    h("div", { class: "job", role: "status", "aria-live": "polite" }, h("span", { class: "spinner" }), `${label}… `, bar, fraction, " ", elapsed, cancel),
  );
  const timer = window.setInterval(() => {
    elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
  const id = `p${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  let finished = false;
  followProgress(id, bar, fraction, () => finished);
  try {
    const result = await work(controller.signal, { "X-Pellucid-Progress": id });
    setChildren(status, h("span", { class: "done" }, `${label}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`));
    return result;
  } catch (e) {
    if (isAbort(e)) setChildren(status, notice(`${label}: cancelled.`));
    else setChildren(status, errorBox(e instanceof Error ? e.message : String(e)));
    return undefined;
  } finally {
    finished = true;
    window.clearInterval(timer);
  }
}
