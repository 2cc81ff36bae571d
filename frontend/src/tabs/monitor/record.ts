// One logged record: prompt, response, metrics and flags, feedback buttons, and "explain this"
// (POST /api/records/{id}/explanation) drawn by the heat-map component.

import { methodPicker } from "../../forms/method";
import { withExport } from "../../heatmap/export";
import { renderExplanation } from "../../heatmap/index";
import { api } from "../../lib/api";
import type { AppContext } from "../../lib/context";
import { button, h, setChildren } from "../../lib/dom";
import { num, time } from "../../lib/format";
import { runJob } from "../../lib/job";
import type { Explanation, RecordItem } from "../../lib/types";

function kv(entries: [string, unknown][]): HTMLElement {
  return h("dl", { class: "facts" }, entries.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "number" ? num(v) : String(v))]));
}

export function recordView(ctx: AppContext, id: string, close: () => void, options: { explain?: boolean } = {}): HTMLElement {
  const body = h("div", { class: "record-body" });
  const status = h("div", { class: "status" });
  const root = h(
    "aside",
    {
      class: "record-panel panel",
      id: "record-panel",
      "aria-label": "Record (Escape closes it)",
      tabIndex: -1,
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === "Escape" && !(e.target instanceof HTMLSelectElement)) (e.preventDefault(), close());
      },
    },
    h("div", { class: "record-head" }, h("h3", {}, "Record ", h("code", {}, id.slice(0, 8))), button("Close", close, "secondary small")),
    status,
    body,
  );

  async function feedback(kind: string): Promise<void> {
    const ok = await runJob(status, "Saving feedback", (signal) => api(`/api/records/${id}/feedback`, { body: { kind }, signal }));
    if (ok) void load();
  }

  async function load(): Promise<void> {
    const r = await runJob(status, "Loading the record", (signal) => api<RecordItem>(`/api/records/${id}`, { signal }));
    if (!r) return;
    const picker = methodPicker(ctx.methods, "record");
    const result = h("div", { id: "record-explanation" });
    const explainStatus = h("div", { class: "status" });
    const explain = async (): Promise<void> => {
      let params: Record<string, unknown>;
      try {
        params = picker.params();
      } catch (e) {
        return void setChildren(explainStatus, h("div", { class: "error" }, (e as Error).message));
      }
      setChildren(result);
      const job = runJob(explainStatus, "Explaining this response", (signal, headers) =>
        api<Explanation>(`/api/records/${id}/explanation`, { body: { method: picker.method(), params }, signal, headers }),
      );
      explainStatus.scrollIntoView({ block: "nearest" }); // the spinner, then the result, in view
      const ex = await job;
      if (!ex) return;
      setChildren(result, withExport(ex, renderExplanation(ex, { title: `${ex.method}: logged response` }), `record-${id.slice(0, 8)}`));
      result.scrollIntoView({ block: "start", behavior: "smooth" });
    };
    setChildren(
      body,
      kv([
        ["time", time(r.created_at)],
        ["model", r.model],
        ["version", r.model_version],
        ["latency ms", r.latency_ms],
        ["prompt tokens", r.prompt_tokens],
        ["completion tokens", r.completion_tokens],
        ["user", r.user_id],
        ["session", r.session_id],
        ["tags", (r.tags ?? []).join(", ")],
      ]),
      h("h4", {}, "Prompt"),
      h("pre", { class: "text" }, r.prompt_text),
      h("h4", {}, "Response"),
      r.error ? h("div", { class: "error" }, r.error) : h("pre", { class: "text", id: "record-response" }, r.response ?? ""),
      r.metrics && Object.keys(r.metrics).length ? [h("h4", {}, "Metrics"), kv(Object.entries(r.metrics))] : null,
      Object.keys(r.flags ?? {}).length ? [h("h4", {}, "Flags"), kv(Object.entries(r.flags))] : null,
      h("h4", {}, "Feedback"),
      h(
        "div",
        { class: "actions" },
        button("▲ Good", () => void feedback("thumbs_up"), "secondary small"),
        button("▼ Bad", () => void feedback("thumbs_down"), "secondary small"),
        h("span", { class: "muted" }, (r.feedback ?? []).map((f) => `${f.kind}${f.value !== null ? ` ${num(f.value)}` : ""}`).join(", ") || "none yet"),
      ),
      h("h4", {}, "Explain this response"),
      picker.element,
      h("div", { class: "actions" }, button("Explain this", () => void explain(), "primary")),
      explainStatus,
      result,
    );
    if (options.explain) void explain(); // opened from a trace's "Explain": one click to the heat map
  }

  void load();
  return root;
}
