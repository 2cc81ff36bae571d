"""A Hugging Face style model card (``README.md``) written from an audit report.

The card has YAML front matter with a ``model-index`` — the structured results the Hugging
Face hub reads: one entry per check that ran, with its task, the data it used and its score —
and a Markdown body that records, per check, the figure, the threshold, the verdict, the
per-group details and the check's limits. Checks that could not run are listed with their error,
so the card never suggests more was tested than was; a check whose 95 % interval holds its
threshold is reported as inconclusive, with the sample size that would decide it, not as a pass.
"""

from __future__ import annotations

from typing import Any

import yaml

from pellucid.audit.result import AuditReport, CheckResult

#: check -> (task name, dataset type, dataset name, metric type, metric name)
_INDEX = {
    "stereotypes": (
        "Stereotype preference",
        "crows_pairs",
        "CrowS-Pairs",
        "stereotype_score",
        "Stereotype score (50 % = unbiased)",
    ),
    "bias": (
        "Counterfactual fairness",
        "pellucid/bias_templates",
        "Demographic-swap templates",
        "max_mean_abs_diff",
        "Largest mean |Δ| after a demographic swap",
    ),
    "toxicity": (
        "Toxicity of continuations",
        "pellucid/toxicity_prompts",
        "Toxicity prompts",
        "toxic_rate",
        "Share of toxic continuations",
    ),
    "pii": ("Personal data leakage", "pellucid/pii_leakage_probe", "PII leakage probe", "leak_rate", "Leak rate"),
    "groundedness": (
        "Groundedness (RAG)",
        "pellucid/groundedness",
        "Context/question/answer triples",
        "unsupported_rate",
        "Share of unsupported answer sentences",
    ),
    "constitution": (
        "Constitution compliance",
        "pellucid/constitution",
        "Principles × responses",
        "violation_rate",
        "Judged violation rate",
    ),
    "robustness": (
        "Robustness to input edits",
        "pellucid/robustness",
        "Edited classification prompts",
        "flip_rate",
        "Largest flip rate over edit generators",
    ),
    "injection": (
        "Prompt-injection resistance",
        "pellucid/injection_suite",
        "Injection suite",
        "attack_success_rate",
        "Attack success rate",
    ),
}


def _dataset_name(c: CheckResult, default: str) -> str:
    from pathlib import PurePath

    data = c.params.get("data")
    return f"{default} ({PurePath(data).name})" if isinstance(data, str) and data and "/" not in default else default


def model_index(report: AuditReport) -> list[dict[str, Any]]:
    """The ``model-index`` list: one result per check that produced a score."""
    results = []
    for c in report.checks:
        if c.score is None or c.error is not None:
            continue
        task, ds_type, ds_name, metric, metric_name = _INDEX.get(
            c.check, (c.check, f"pellucid/{c.check}", c.check, "score", "score")
        )
        results.append(
            {
                "task": {"type": "text-generation", "name": task},
                "dataset": {"type": ds_type, "name": _dataset_name(c, ds_name)},
                "metrics": [
                    {"type": metric, "value": round(float(c.score), 4), "name": metric_name, "verified": False}
                ],
            }
        )
    return [{"name": report.model, "results": results}]


def _details(c: CheckResult) -> list[str]:
    m, lines = c.metrics, []
    if c.check == "stereotypes":
        lines.append(
            f"- 95 % interval: {m['ci95'][0]:.3f}–{m['ci95'][1]:.3f} over {m['pairs']} pairs "
            f"({m['ties']} ties); binomial p vs 50 %: {_p(m.get('binomial_pvalue_vs_50'))}"
        )
        lines += [f"- {k}: {v['rate']:.3f} (n={v['n']})" for k, v in m.get("per_bias_type", {}).items()]
    elif c.check == "bias":
        for d, v in m.get("per_dimension", {}).items():
            lines.append(
                f"- {d}: mean Δ {v['mean_diff']:+.4f}, Cohen's d_z {v.get('cohens_dz', 0):.2f}, "
                f"permutation p {_p(v.get('permutation_pvalue'))} (n={v['n']} pairs)"
            )
    else:
        for k, v in m.items():
            if isinstance(v, dict) and "rate" in v and "ci95" in v and v["rate"] is not None:
                lines.append(f"- {k}: {v['rate']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] (n={v['n']})")
    return lines


def _counted(n: int, noun: str) -> str:
    """``1 check``, ``3 checks``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _p(value: float | None) -> str:
    return "n/a (too few pairs)" if value is None else f"{value:.3g}"


def model_card(report: AuditReport, *, license: str | None = None) -> str:
    """The card's text: YAML front matter + Markdown."""
    front: dict[str, Any] = {"tags": ["pellucid", "responsible-ai-audit"], "model-index": model_index(report)}
    if license:
        front["license"] = license
    s = report.summary
    body = [
        f"# Model card: {report.model}",
        "",
        f"Responsible-AI audit written by Pellucid on {report.created}"
        + (f" (model fingerprint `{report.model_version}`)" if report.model_version else "")
        + f": {_counted(s['pass'], 'check')} passed, {s['fail']} failed, {s['inconclusive']} inconclusive "
        f"(too few samples to decide), {s['error']} could not run.",
        "",
        "## Audit summary",
        "",
        "| check | status | score | threshold | what it measures |",
        "|---|---|---|---|---|",
    ]
    for c in report.checks:
        score = "—" if c.score is None else f"{c.score:.4f}"
        threshold = "—" if c.threshold is None else f"{c.threshold:g}"
        what = (c.description or (c.error or "")).replace("|", "\\|").replace("\n", " ")
        body.append(f"| {c.check} | {c.status} | {score} | {threshold} | {what} |")
    for c in report.checks:
        body += ["", f"## {c.check}", ""]
        if c.error is not None:
            body.append(f"Not run: {c.error}")
            continue
        body.append(
            f"Score **{c.score:.4f}** against threshold {c.threshold:g}: **{c.status}**."
            if c.score is not None and c.threshold is not None
            else f"Status: {c.status}."
        )
        if c.inconclusive:
            body += ["", c.evidence_note()]
        details = _details(c)
        if details:
            body += ["", *details]
        if c.limits:
            body += ["", "Limits:", "", *[f"- {x}" for x in c.limits]]
    body += [
        "",
        "## Limitations of this audit",
        "",
        "These figures describe this model on these data sets with these settings; a pass is not a guarantee "
        "of safe behaviour elsewhere. Each section lists what its check does not cover.",
        "",
    ]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)
