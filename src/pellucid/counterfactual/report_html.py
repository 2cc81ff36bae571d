"""A robustness report as one standalone HTML page: inline CSS, no script, no CDN.

Flip rates are drawn as bars with their 95 % Wilson interval as a whisker; the worst edits of
each generator follow, with the original and edited text. Everything user-provided is escaped.
"""

from __future__ import annotations

import html
import json
from typing import Any

from pellucid.counterfactual.robustness import RobustnessReport

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:12px 0;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;height:14px;width:220px;background:#eee}
.fill{position:absolute;height:14px;background:#d9534f}
.ci{position:absolute;top:6px;height:2px;background:#222}
.flip{color:#c0392b;font-weight:600} .muted{color:#777} code{white-space:pre-wrap}
.warning{background:#fff4d6;border-left:4px solid #e0a100;padding:6px 10px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _bar(rate: float, lo: float, hi: float) -> str:
    return (
        f'<div class="bar" title="{rate:.3f} [{lo:.3f}, {hi:.3f}]">'
        f'<div class="fill" style="width:{100 * rate:.1f}%"></div>'
        f'<div class="ci" style="left:{100 * lo:.1f}%;width:{100 * (hi - lo):.1f}%"></div></div>'
    )


def robustness_page(report: RobustnessReport) -> str:
    """The whole report as HTML text (write it to a ``.html`` file)."""
    rows = []
    for name, s in report.generators.items():
        lo, hi = s["flip_rate_ci95"]
        acc = f"{s['accuracy_before']:.3f} → {s['accuracy_after']:.3f}" if "accuracy_after" in s else "—"
        rows.append(
            f"<tr><td>{_e(name)}</td><td class=num>{s['edits']}</td><td class=num>{s['not_applicable']}</td>"
            f"<td class=num>{s['flip_rate']:.3f}</td><td>{_bar(s['flip_rate'], lo, hi)}</td>"
            f"<td class=num>[{lo:.3f}, {hi:.3f}]</td><td class=num>{s['example_flip_rate']:.3f}</td>"
            f"<td class=num>{s['mean_delta_logprob']:+.3f}</td><td class=num>{acc}</td></tr>"
        )
    worst = []
    for name, items in report.worst.items():
        if not items:
            continue
        body = "".join(
            f"<tr><td class=num>{r['row']}</td><td>{_e(r['edit'])}</td><td><code>{_e(r['original'])}</code></td>"
            f"<td><code>{_e(r['edited'])}</code></td><td>{_e(repr(r['answer_before']))} → {_e(repr(r['answer_after']))}"
            f"{' <span class=flip>flip</span>' if r['flipped'] else ''}</td>"
            f"<td class=num>{r['delta_logprob']:+.3f}</td></tr>"
            for r in items
        )
        worst.append(
            f"<h3>Worst edits · {_e(name)}</h3><table><tr><th>row</th><th>edit</th><th>original</th>"
            f"<th>edited</th><th>answer</th><th>Δ log p</th></tr>{body}</table>"
        )
    acc = "" if report.accuracy_before is None else f" · accuracy before edits {report.accuracy_before:.3f}"
    skipped = f" · {report.skipped_empty} empty rows skipped" if report.skipped_empty else ""
    config = _e(json.dumps(report.config, indent=1, ensure_ascii=False))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Pellucid · robustness</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h2>Robustness · {_e(report.model)}</h2>"
        f"<p class=muted>{_e(report.task)} · {report.n_examples} examples{skipped}{acc} · {report.seconds:.1f} s</p>"
        + "".join(f"<p class=warning><b>Warning:</b> {_e(w)}</p>" for w in report.meta.get("warnings", []))
        + "<table><tr><th>generator</th><th>edits</th><th>n/a</th><th>flip rate</th><th>flip rate (bar, 95 % CI)</th>"
        "<th>95 % CI</th><th>examples flipped</th><th>mean Δ log p(target)</th><th>accuracy before → after</th></tr>"
        f"{''.join(rows)}</table>{''.join(worst)}"
        f"<details><summary>configuration</summary><pre>{config}</pre></details></body></html>"
    )
