"""The audit report as one self-contained HTML page: inline CSS and SVG, no script, no CDN.

Layout: a header (model, date, pass/fail/error counts), a summary table linking to one
``<section id="check-NAME">`` per check. Each section shows the verdict against its threshold,
a chart of its main figures with 95 % intervals (:mod:`pellucid.audit.svg`), its key metrics,
its findings (the examples behind the figures: most divergent pairs side by side with their
word attributions, unsupported claims highlighted in the answer...), what it does not cover,
and — for a check that could not run — the error.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from pellucid.audit.result import AuditReport, CheckResult
from pellucid.audit.svg import CSS as SVG_CSS
from pellucid.audit.svg import Bar, bar_chart

e = html.escape

PAGE_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border:1px solid #ddd;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#f4f4f4}.badge{display:inline-block;padding:1px 8px;
border-radius:9px;color:#fff;font-weight:600;font-size:12px}.pass{background:#2e7d32}.fail{background:#c62828}
.error{background:#757575}.inconclusive{background:#b26a00}
.err{background:#fff3f3;border:1px solid #e0b4b4;padding:8px;white-space:pre-wrap}
.limits{color:#555}.muted{color:#666}.side{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.side>div{border:1px solid #ddd;padding:6px}mark.bad{background:#ffd0d0}.tok{padding:1px 2px;border-radius:3px}
code{background:#f4f4f4;padding:0 3px}
"""


def _score(c: CheckResult) -> str:
    if c.score is None:
        return "—"
    return f"{c.score:.3f}" + (f" (threshold {c.threshold:g})" if c.threshold is not None else "")


def _badge(status: str) -> str:
    return f'<span class="badge {status}">{status}</span>'


def _metric_rows(m: dict[str, Any]) -> str:
    rows = []
    for k, v in m.items():
        if isinstance(v, (dict, list)) and len(json.dumps(v, default=str)) > 160:
            continue  # large structures are charted or in the JSON
        rows.append(f"<tr><th>{e(k)}</th><td>{e(_short(v))}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and "rate" in v and "ci95" in v:
        rate = v["rate"]
        return "—" if rate is None else f"{rate:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] (n={v['n']})"
    return json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)


def _rate_bars(d: dict[str, Any], key: str = "rate", ci: str = "ci95") -> list[Bar]:
    return [
        Bar(k, float(v.get(key) or 0.0), tuple(v[ci]) if v.get(ci) else None, f"n={v.get('n', '')}")
        for k, v in d.items()
        if isinstance(v, dict)
    ]


# -- per-check charts --------------------------------------------------------------------------
def _chart_stereotypes(c: CheckResult) -> str:
    m = c.metrics
    bars = [Bar("overall", m["stereotype_score"], tuple(m["ci95"]), f"n={m['pairs']}")]
    bars += _rate_bars(m.get("per_bias_type", {}))
    return bar_chart(bars, title="Stereotype score by bias type (95 % CI)", ref=0.5, ref_label="50 % = unbiased")


def _chart_bias(c: CheckResult) -> str:
    dims = c.metrics.get("per_dimension", {})
    bars = [
        Bar(
            d,
            v["mean_diff"],
            tuple(v["mean_diff_ci95"]) if v.get("mean_diff_ci95") else None,
            _pnote(v.get("permutation_pvalue"), v.get("n")),
        )
        for d, v in dims.items()
    ]
    lim = max([0.1] + [abs(x) for v in dims.values() for x in (v.get("mean_diff_ci95") or [0])])
    return bar_chart(
        bars,
        title="Mean change of the metric after the swap, per dimension (95 % CI)",
        lo=-lim,
        hi=lim,
        ref=0.0,
        percent=False,
    )


def _pnote(p: float | None, n: int | None) -> str:
    return f"p={p:.3g} n={n}" if p is not None else f"n={n}, no test"


def _chart_toxicity(c: CheckResult) -> str:
    m = c.metrics
    bars = [Bar("any classifier", m["toxic_continuation_rate"]["rate"], tuple(m["toxic_continuation_rate"]["ci95"]))]
    bars += _rate_bars(m.get("per_classifier", {}))
    bars.append(Bar("toxic prompts", m["toxic_prompt_rate"]["rate"], tuple(m["toxic_prompt_rate"]["ci95"])))
    return bar_chart(bars, title="Toxic continuations (95 % CI)", ref=c.threshold, ref_label="threshold")


def _chart_pii(c: CheckResult) -> str:
    m = c.metrics
    bars = [
        Bar(k.replace("leak_rate", "leaks").replace("_", " "), v["rate"] or 0.0, tuple(v["ci95"]))
        for k, v in m.items()
        if k.startswith("leak_rate") and isinstance(v, dict)
    ]
    bars.append(Bar("generations with PII", m["generations_with_pii"]["rate"] or 0.0))
    return bar_chart(bars, title="Personal data leaked or generated (95 % CI)")


def _chart_groundedness(c: CheckResult) -> str:
    rows = c.metrics.get("per_triple", [])
    bars = [
        Bar(
            str(r["id"]),
            sum(s["support"] for s in r["sentences"]) / max(1, len(r["sentences"])),
            note=f"{sum(not s['supported'] for s in r['sentences'])} unsupported",
        )
        for r in rows
    ]
    return bar_chart(bars, title="Mean sentence support per answer", ref=None)


def _chart_constitution(c: CheckResult) -> str:
    return bar_chart(_rate_bars(c.metrics.get("per_principle", {})), title="Violation rate per principle (95 % CI)")


def _chart_robustness(c: CheckResult) -> str:
    bars = [
        Bar(g, v["flip_rate"], tuple(v["flip_rate_ci95"]) if v.get("flip_rate_ci95") else None)
        for g, v in c.metrics.get("per_generator", {}).items()
    ]
    return bar_chart(bars, title="Flip rate per edit generator (95 % CI)", ref=c.threshold, ref_label="threshold")


def _chart_injection(c: CheckResult) -> str:
    bars = [Bar(f, v["success_rate"], tuple(v["ci95"])) for f, v in c.metrics.get("per_family", {}).items()]
    return bar_chart(bars, title="Attack success rate per family (95 % CI)", ref=c.threshold, ref_label="threshold")


CHARTS: dict[str, Callable[[CheckResult], str]] = {
    "stereotypes": _chart_stereotypes,
    "bias": _chart_bias,
    "toxicity": _chart_toxicity,
    "pii": _chart_pii,
    "groundedness": _chart_groundedness,
    "constitution": _chart_constitution,
    "robustness": _chart_robustness,
    "injection": _chart_injection,
}


# -- findings ------------------------------------------------------------------------------------
def _heat(words: list[list[Any]] | None) -> str:
    """Words coloured by attribution (blue raises the target's probability, red lowers it)."""
    if not words:
        return ""
    peak = max([abs(s) for _, s in words if s is not None] + [1e-9])
    out = []
    for w, s in words:
        if s is None:
            out.append(f"<span>{e(str(w))}</span>")
            continue
        a = min(abs(s) / peak, 1.0) * 0.75
        colour = f"rgba(40,100,220,{a:.2f})" if s >= 0 else f"rgba(220,50,50,{a:.2f})"
        out.append(f'<span class="tok" style="background:{colour}" title="{s:+.3f}">{e(str(w))}</span>')
    return "".join(out)  # labels keep their leading spaces


def _findings_bias(c: CheckResult) -> str:
    parts = []
    for f in c.findings:
        head = (
            f"<p><b>{e(f['template'])}</b> · {e(f['swap'])} · {e(f['metric'])}: "
            f"{f['value_original']:.3f} → {f['value_swapped']:.3f} (Δ {f['diff']:+.3f})</p>"
        )
        note = (
            f"<p class='muted'>Occlusion attribution of log p({e(repr(f['attribution_target']))}) per word.</p>"
            if "attribution_target" in f
            else ""
        )
        parts.append(
            head + note + '<div class="side">'
            f"<div><b>original</b><p>{e(f['original'])}</p><p>{_heat(f.get('attribution_original'))}</p>"
            f"<p class='muted'>answer: {e(str(f['answer_original']))}</p></div>"
            f"<div><b>swapped</b><p>{e(f['swapped'])}</p><p>{_heat(f.get('attribution_swapped'))}</p>"
            f"<p class='muted'>answer: {e(str(f['answer_swapped']))}</p></div></div>"
        )
    return "".join(parts)


def _findings_groundedness(c: CheckResult) -> str:
    parts = []
    for f in c.findings:
        answer, cursor, out = f["answer"], 0, []
        for s in sorted(f["unsupported"], key=lambda s: s["start"]):
            out.append(e(answer[cursor : s["start"]]))
            tip = "; ".join(f"{k}: {', '.join(v)}" for k, v in s["missing"].items()) or f"support {s['support']:.2f}"
            out.append(f'<mark class="bad" title="{e(tip)}">{e(answer[s["start"] : s["end"]])}</mark>')
            cursor = s["end"]
        out.append(e(answer[cursor:]))
        missing = "; ".join(f"{k}: {', '.join(v)}" for s in f["unsupported"] for k, v in s["missing"].items())
        parts.append(
            f"<p><b>{e(str(f['id']))}</b> · {e(f['question'])}<br>{''.join(out)}"
            f"<br><span class='muted'>not in the context: {e(missing or '—')}</span></p>"
        )
    return "".join(parts)


def _findings_table(c: CheckResult) -> str:
    rows = c.findings[:10]
    keys = list(
        dict.fromkeys(
            k
            for r in rows
            for k, v in r.items()
            if not isinstance(v, (dict, list)) or k in ("leaked", "lexicon_terms", "scores")
        )
    )[:8]
    head = "".join(f"<th>{e(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{e(_short(r.get(k, '')))[:400]}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


FINDINGS: dict[str, Callable[[CheckResult], str]] = {"bias": _findings_bias, "groundedness": _findings_groundedness}


def check_section(c: CheckResult) -> str:
    """The ``<section>`` of one check."""
    out = [
        f'<section id="check-{e(c.check)}" data-check="{e(c.check)}" data-status="{c.status}">',
        f"<h2>{e(c.check)} {_badge(c.status)}</h2>",
    ]
    if c.description:
        out.append(f"<p>{e(c.description)}</p>")
    if c.error is not None:
        out.append(f'<div class="err"><b>This check could not run:</b> {e(c.error)}</div></section>')
        return "".join(out)
    out.append(f"<p><b>Score:</b> {e(_score(c))} · {c.seconds:.1f} s</p>")
    if c.inconclusive:
        out.append(f'<p class="inconclusive-note">{e(c.evidence_note())}</p>')
    try:
        out.append(CHARTS.get(c.check, lambda _: "")(c))
    except (KeyError, TypeError, ValueError):  # a result from another version: skip its chart
        pass
    out.append(_metric_rows(c.metrics))
    if c.findings:
        out.append(f"<h3>Findings ({len(c.findings)})</h3>")
        out.append(FINDINGS.get(c.check, _findings_table)(c))
    if c.limits:
        out.append("<h3>Limits</h3><ul class='limits'>" + "".join(f"<li>{e(x)}</li>" for x in c.limits) + "</ul>")
    out.append("</section>")
    return "".join(out)


def report_page(report: AuditReport, title: str | None = None) -> str:
    """The whole report as a standalone HTML page (works offline: nothing is fetched)."""
    title = title or f"Pellucid audit · {report.model}"
    s = report.summary
    rows = "".join(
        f'<tr><td><a href="#check-{e(c.check)}">{e(c.check)}</a></td><td>{_badge(c.status)}</td>'
        f"<td>{e(_score(c))}</td><td>{e(c.description or (c.error or '')[:120])}</td></tr>"
        for c in report.checks
    )
    body = "".join(check_section(c) for c in report.checks)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{e(title)}</title>"
        f"<style>{PAGE_CSS}{SVG_CSS}</style></head><body>"
        f"<header><h1>{e(title)}</h1><p class='muted'>model <code>{e(report.model)}</code>"
        f"{' · ' + e(report.model_version) if report.model_version else ''} · {e(report.created)} · "
        f"{report.seconds:.1f} s · {s['pass']} passed, {s['fail']} failed, "
        f"{s['inconclusive']} inconclusive, {s['error']} errors</p></header>"
        f"<section id='summary'><h2>Summary</h2><table><tr><th>check</th><th>status</th><th>score</th>"
        f"<th>what it measures</th></tr>{rows}</table></section>{body}"
        "<footer class='muted'><p>Written by Pellucid. Scores are evidence about this model on these data, "
        "not guarantees; see each check's limits.</p></footer></body></html>"
    )
