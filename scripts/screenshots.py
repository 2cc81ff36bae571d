"""Screenshots of every workbench view at 1280 and 800 px wide, for reviewing the UI without
running it.

    python scripts/screenshots.py OUT_DIR                 # every view, both widths
    python scripts/screenshots.py OUT_DIR --widths 1280   # one width

It starts a real server in this process (the bundled SmolLM2, a fresh SQLite store seeded with
two weeks of synthetic traffic by the browser tests' helper ``tests/e2e/seed.py``), drives
Debian's Chromium with Playwright, runs each view's main action (an explanation, an attention
summary, a drift report, a projection, an attribution graph over random transcoders...) and
writes ``OUT_DIR/<view>-<width>.png`` (full page) and ``OUT_DIR/index.html`` showing them side
by side. Needs the built workbench
(scripts/build_frontend.sh), Chromium (scripts/install_chromium.sh) and Playwright (pip); no
network. About two minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import ARGS, CHROMIUM, start_server, stop_server  # noqa: E402
from tests.e2e.seed import seed  # noqa: E402

Step = Callable[[Any], None]
LONG = 120_000  # ms: a model call on a busy 2-core machine


def _explain(page: Any) -> None:
    page.goto("/#explain")
    page.fill("#explain-prompt", "Is this review positive or negative? 'The kettle broke after two days.'")
    page.click("#explain-run")
    page.locator("#explain-result .token-view").wait_for(timeout=LONG)


def _inspect(page: Any) -> None:
    page.goto("/#inspect")
    page.select_option("#inspect-verb", "head_summary")
    page.locator("#inspect-head_summary-prompt").fill("The capital of France is")
    page.click("#inspect-run")
    page.locator("#inspect-result .grid").wait_for(timeout=LONG)


def _inspect_lens(page: Any) -> None:
    page.goto("/#inspect")
    page.select_option("#inspect-verb", "logit_lens")
    page.locator("#inspect-logit_lens-prompt").fill("The capital of France is")
    page.locator("#inspect-logit_lens-target").fill(" Paris")
    page.click("#inspect-run")
    page.locator("#layer-chart svg").wait_for(timeout=LONG)


REVIEWS = ["The kettle broke after two days.", "Lovely staff and a quiet room.", "Terrible food, friendly waiter."]


def _data(page: Any) -> None:
    page.goto("/#data")
    rows = "".join(f'{{"text": "{t}", "label": {i % 2}}}\n' for i, t in enumerate(REVIEWS * 4))
    page.set_input_files(
        "#data-file", files=[{"name": "reviews.jsonl", "mimeType": "text/plain", "buffer": rows.encode()}]
    )
    page.click("#data-open")
    page.locator("#data-table tbody tr").first.wait_for()
    for key in (1, 2, 3):
        page.locator(f"#data-table tbody tr[data-key$=':{key}'] input[type=checkbox]").check()
    page.click("text=Run model")
    page.wait_for_function("document.querySelector('#data-progress').textContent === '3 / 3 rows'", timeout=LONG)
    page.click("text=Explain selected")
    page.locator("#data-aggregate .bar-row").first.wait_for(timeout=LONG)


def _audit(page: Any) -> None:
    page.goto("/#audit")
    page.locator("#audit-check-bias").wait_for()


def _records(page: Any) -> None:
    page.goto("/#monitor/records")
    page.locator("#records-table tbody tr[data-id]").first.wait_for()
    page.click("#records-table th[data-sort=latency_ms] button")  # sorted by latency, on the server
    page.wait_for_function("document.querySelector('#records-table th[data-sort=latency_ms]').ariaSort === 'ascending'")
    page.locator("#records-table tbody tr[data-id]").first.click()
    page.locator("#record-panel pre.text").first.wait_for()


def _metrics(page: Any) -> None:
    page.goto("/#monitor/metrics")
    page.fill("#met-window", "last:14d")
    page.select_option("#met-bucket", "86400")
    page.click("form.filters button[type=submit]")
    page.locator("#metric-charts .chart-card").first.wait_for()
    page.locator("#metric-summary .stat").first.wait_for()


def _drift(page: Any) -> None:
    page.goto("/#monitor/drift")
    page.fill("#drift-ref", "version:v1")
    page.fill("#drift-cur", "version:v2")
    page.click("form.filters button[type=submit]")
    page.locator("#drift-detail .card").wait_for(timeout=LONG)
    page.locator("#drift-dists svg").first.wait_for()


def _alerts(page: Any) -> None:
    page.goto("/#monitor/alerts")
    page.locator("#alert-rules").wait_for()


def _projector(page: Any) -> None:
    page.goto("/#monitor/projector")
    page.fill("#proj-clusters", "3")
    page.click("#proj-run")
    page.locator("#projector-plot canvas").wait_for(timeout=LONG)
    page.locator("#projector-plot canvas").focus()
    page.keyboard.press("ArrowRight")  # a point focused from the keyboard


def _graph(page: Any) -> None:
    page.goto("/#graph")
    page.fill("#graph-prompt", "The capital of France is")
    page.fill("#graph-max-nodes", "40")
    page.click("#graph-run")
    nodes = page.locator("#graph-svg .graph-node.feature")
    nodes.first.wait_for(timeout=LONG)
    nodes.first.click()
    nodes.nth(1).click()
    page.click("#graph-intervene")  # the first pinned node ablated
    page.locator("#graph-result").wait_for(timeout=LONG)
    nodes.first.hover()
    page.locator("#graph-tooltip .feature-context, #graph-tooltip p.muted").first.wait_for(timeout=LONG)


def _transcoders(lm: Any, folder: Path) -> Path:
    """Random per-layer transcoders for the Graph view (the view, not the features, is under review)."""
    from tests.features.graph_support import random_transcoders, save_transcoders

    return save_transcoders(random_transcoders(lm, seed=0, d_sae=128, k=8), folder)


VIEWS: dict[str, Step] = {
    "explain": _explain,
    "inspect": _inspect,
    "inspect-lens": _inspect_lens,
    "audit": _audit,
    "monitor-records": _records,
    "monitor-metrics": _metrics,
    "monitor-drift": _drift,
    "monitor-alerts": _alerts,
    "monitor-projector": _projector,
    "data": _data,
    "graph": _graph,
}


def shoot(url: str, out: Path, widths: list[int], views: list[str]) -> list[tuple[str, int, Path]]:
    """Each view at each width; returns ``(view, width, png)``, and prints one line per shot."""
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for width in widths:
                context = browser.new_context(viewport={"width": width, "height": 800}, base_url=url)
                page = context.new_page()
                page.set_default_timeout(30_000)
                for name in views:
                    VIEWS[name](page)
                    page.wait_for_timeout(300)  # smooth scrolls and late layout
                    path = out / f"{name}-{width}.png"
                    page.screenshot(path=str(path), full_page=True)
                    shots.append((name, width, path))
                    print(f"{path}", flush=True)
                context.close()
        finally:
            browser.close()
    return shots


def index_page(shots: list[tuple[str, int, Path]]) -> str:
    """A page showing every view's shots side by side."""
    rows = {}
    for name, width, path in shots:
        rows.setdefault(name, []).append(
            f'<figure><img src="{html.escape(path.name)}" width="{width // 2}">'
            f"<figcaption>{width} px</figcaption></figure>"
        )
    body = "".join(f"<section><h2>{html.escape(n)}</h2>{''.join(figs)}</section>" for n, figs in rows.items())
    style = "body{font-family:system-ui;margin:1em}section{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap}"
    return f"<!doctype html><meta charset=utf-8><title>Pellucid workbench</title><style>{style}</style>{body}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the PNG files and index.html (created)")
    parser.add_argument("--widths", default="1280,800", help="comma-separated viewport widths (px)")
    parser.add_argument("--views", default=",".join(VIEWS), help=f"comma-separated, among: {', '.join(VIEWS)}")
    args = parser.parse_args()
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        parser.error(f"unknown view(s) {', '.join(unknown)}; choose among {', '.join(VIEWS)}")
    widths = [int(w) for w in args.widths.split(",")]
    if not Path(CHROMIUM).exists():
        sys.exit(f"No Chromium at {CHROMIUM}: run scripts/install_chromium.sh (or set PELLUCID_CHROMIUM).")
    from pellucid.models import LM
    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool
    from pellucid.settings import Settings

    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=Path(os.environ.get("PELLUCID_TEST_HOME", REPO / ".pellucid-test-home")))
    lm = LM.load("smollm2-135m-instruct", settings)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/screens.db")
        seed(store)
        transcoders = _transcoders(lm, Path(tmp) / "transcoders")
        pool = ModelPool(settings.with_overrides(default_model=lm.name, transcoders=(transcoders,)))
        pool.add(lm)
        url, server, thread = start_server(create_app(pool.settings, pool, store))
        try:
            shots = shoot(url, args.out, widths, views)
        finally:
            stop_server(server, thread)
            store.close()
    (args.out / "index.html").write_text(index_page(shots), encoding="utf-8")
    print(f"{len(shots)} screenshots and {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
