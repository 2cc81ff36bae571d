// Audit: run responsible-AI checks on a model as a background job (POST /api/audit/jobs), follow
// it live (a progress bar with the current check, polled), cancel it on the server (DELETE), and
// read the report: the summary table, the full HTML report and the model card.

import { api } from "../../lib/api";
import type { AppContext } from "../../lib/context";
import { button, field, h, setChildren } from "../../lib/dom";
import { num, time } from "../../lib/format";
import { errorBox, notice } from "../../lib/job";
import type { AuditChecks, AuditJob } from "../../lib/types";
import { checkPicker, type CheckPicker } from "./checks";
import { reportView, statusBadge } from "./report";

const POLL_MS = 400;
const ACTIVE = new Set(["queued", "running"]);

/** The live progress card; ``cancelButton`` is one element for the whole run, moved into each new
 * card, so a click that spans a poll's re-render still lands on it. */
function progressView(job: AuditJob, cancelButton: HTMLButtonElement): HTMLElement {
  const p = job.progress;
  const where = p.current ? `${p.current}${p.current_total ? ` — ${p.current_done} of ${p.current_total}` : ""}` : "";
  const current =
    job.status === "queued" ? "waiting for the audit before it" : job.status === "running" ? where : job.status === "done" || !where ? "" : `stopped in ${where}`;
  return h(
    "div",
    { class: "audit-progress card", id: "audit-progress", "data-status": job.status },
    h(
      "div",
      { class: "audit-progress-head" },
      statusBadge(job.status),
      h("span", { class: "audit-count" }, ` checks done: ${p.done} of ${p.total}`),
      job.seconds === null ? null : h("span", { class: "elapsed" }, ` · ${num(job.seconds, 1)} s`),
      ACTIVE.has(job.status) && !job.cancel_requested ? cancelButton : null,
      job.cancel_requested && ACTIVE.has(job.status) ? h("span", { class: "muted" }, " cancelling…") : null,
    ),
    h("progress", { id: "audit-bar", max: 1, value: p.fraction, "aria-label": "Audit progress" }),
    h("p", { class: "audit-current", id: "audit-current" }, current),
    job.steps.length
      ? h("ul", { class: "audit-steps" }, job.steps.map((s) => h("li", {}, statusBadge(s.status), ` ${s.check}`, s.score === null ? "" : ` · score ${num(s.score, 4)}`, ` · ${num(s.seconds, 1)} s`)))
      : null,
  );
}

export function auditTab(ctx: AppContext): HTMLElement {
  const status = h("div", { class: "status", id: "audit-status" });
  const live = h("div", { id: "audit-live" });
  const result = h("div", { id: "audit-result" });
  const history = h("div", { id: "audit-history" });
  const pickerHost = h("div", {}, h("p", { class: "muted" }, "Loading the checks…"));
  const model = h(
    "select",
    { id: "audit-model", "aria-label": "Model to audit" },
    ctx.modelNames.map((n) => h("option", { value: n, selected: n === (ctx.model() ?? ctx.defaultModel) }, n)),
  );
  let picker: CheckPicker | null = null;
  let following = 0; // the id of the current follow loop: a newer one stops the older

  async function cancel(id: string): Promise<void> {
    try {
      await api(`/api/audit/jobs/${id}`, { method: "DELETE" });
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
    }
  }

  async function follow(id: string): Promise<void> {
    const me = ++following;
    setChildren(result);
    setChildren(status);
    const cancelButton = button("Cancel", () => {
      cancelButton.disabled = true;
      void cancel(id);
    }, "secondary small");
    for (;;) {
      let job: AuditJob;
      try {
        job = await api<AuditJob>(`/api/audit/jobs/${id}`);
      } catch (e) {
        setChildren(status, errorBox((e as Error).message));
        return;
      }
      if (me !== following) return;
      setChildren(live, progressView(job, cancelButton));
      if (!ACTIVE.has(job.status)) {
        if (job.status === "done") setChildren(result, reportView(job));
        else if (job.status === "failed") setChildren(status, errorBox(job.error ?? "The audit failed."));
        else setChildren(status, notice(job.error ?? "The audit was cancelled."));
        void loadHistory();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function run(): Promise<void> {
    if (!picker) return;
    let body: Record<string, unknown>;
    try {
      const checks = picker.selected();
      if (!checks.length) throw new Error("Tick at least one check to run.");
      body = { model: model.value === ctx.defaultModel ? null : model.value, checks, options: picker.options() };
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
      return;
    }
    try {
      const job = await api<AuditJob>("/api/audit/jobs", { body });
      void follow(job.id);
    } catch (e) {
      setChildren(status, errorBox((e as Error).message));
    }
  }

  async function loadHistory(): Promise<void> {
    let jobs: AuditJob[];
    try {
      jobs = await api<AuditJob[]>("/api/audit/jobs");
    } catch {
      return;
    }
    setChildren(
      history,
      jobs.length
        ? [
            h("h3", {}, "Recent audits"),
            h(
              "table",
              { class: "table" },
              h("thead", {}, h("tr", {}, ["Started", "Model", "Checks", "Status", ""].map((c) => h("th", {}, c)))),
              h("tbody", {}, jobs.map((j) => h("tr", {}, h("td", {}, time(j.created_at)), h("td", {}, j.params.model), h("td", {}, j.params.checks.join(", ")), h("td", {}, statusBadge(j.status), j.stored ? h("span", { class: "muted", title: "kept in the monitoring store" }, " · stored") : null), h("td", {}, button("Show", () => void follow(j.id), "secondary small"))))),
            ),
          ]
        : null,
    );
  }

  api<AuditChecks>("/api/audit/checks")
    .then((data) => {
      picker = checkPicker(data);
      setChildren(pickerHost, picker.element);
    })
    .catch((e: Error) => setChildren(pickerHost, errorBox(`The audit checks could not be loaded: ${e.message}`)));
  void loadHistory();

  const form = h(
    "form",
    { class: "panel form", noValidate: true, onsubmit: (e: Event) => (e.preventDefault(), void run()) },
    h("p", { class: "muted" }, "Responsible-AI checks on one model: bias under demographic swaps, toxicity, personal data, groundedness, a judged constitution, robustness to small edits and prompt injection. The audit runs on the server; you can leave this tab and come back."),
    h("div", { class: "row" }, field("Model", model)),
    pickerHost,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "audit-run" }, "Run audit")),
  );
  return h("div", { class: "tab-body audit" }, form, status, live, result, history);
}
