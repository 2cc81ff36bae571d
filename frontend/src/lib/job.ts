// Long requests: a spinner with the elapsed time and a Cancel button (AbortController), and the
// server's error message in place of a blank panel.

import { isAbort } from "./api";
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
export async function runJob<T>(
  status: HTMLElement,
  label: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T | undefined> {
  const controller = new AbortController();
  const started = performance.now();
  const elapsed = h("span", { class: "elapsed" }, "0.0 s");
  const cancel = button("Cancel", () => controller.abort(), "secondary small");
  setChildren(
    status,
    h("div", { class: "job", role: "status", "aria-live": "polite" }, h("span", { class: "spinner" }), `${label}… `, elapsed, cancel),
  );
  const timer = window.setInterval(() => {
    elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
  try {
    const result = await work(controller.signal);
    setChildren(status, h("span", { class: "done" }, `${label}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`));
    return result;
  } catch (e) {
    if (isAbort(e)) setChildren(status, notice(`${label}: cancelled.`));
    else setChildren(status, errorBox(e instanceof Error ? e.message : String(e)));
    return undefined;
  } finally {
    window.clearInterval(timer);
  }
}
