"""The HTML report opens in a real headless Chromium with no network and shows every section.

Chromium is Debian's (/usr/bin/chromium, ``scripts/install_chromium.sh``) driven by Playwright from
pip (never ``playwright install``). The test skips when either is missing, except under CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pellucid.audit.result import AuditReport
from tests.audit.conftest import PAIRS, StubLM, write_crows

CHROMIUM = os.environ.get("PELLUCID_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [
        n
        for n, ok in (
            ("playwright", sync_playwright is not None),
            ("chromium", Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)),
        )
        if not ok
    ]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing under CI: run scripts/install_chromium.sh")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium; pip install playwright)")
    return sync_playwright


@pytest.fixture(scope="module")
def full_report(tiny_lm, tmp_path_factory) -> AuditReport:
    """One real result from every check (stubs or given texts where the tiny model's context is too small)."""
    import numpy as np

    from pellucid import audit
    from pellucid.audit.bias_check import Template
    from pellucid.audit.constitution_check import Item, Principle
    from pellucid.audit.groundedness_check import Triple
    from pellucid.audit.stereotypes_check import load_pairs, score_pairs

    tmp = tmp_path_factory.mktemp("report")
    pairs = load_pairs(write_crows(tmp / "c.csv"))
    lp = np.array([[-10.0 - i % 3, -11.0 + i % 2] for i in range(len(PAIRS))])
    checks = [
        audit.bias(tiny_lm, [Template("t", "The man was very", "sentiment")], top_k=1),
        score_pairs(pairs, lp, model="tiny"),
        audit.toxicity(None, ["a", "b"], continuations=["you idiot", "fine"], classifiers=["lexicon"]),
        audit.pii_audit(StubLM(answer="card 4111111111111111")),
        audit.groundedness([Triple("Flight BA2490 leaves at 14:35.", "When?", "Flight BA2490 leaves at 15:35.", "f")]),
        audit.constitution(
            tiny_lm, [Principle("polite", "Be polite.")], [Item("Hi", "Hello!", {"polite": True})], critique=False
        ),
        audit.robustness(tiny_lm, limit=2, generators=["typos"]),
        audit.injection(None, respond=lambda system, user: "Sure. " + user[-60:]),
    ]
    return AuditReport("tiny", checks)


def test_report_opens_offline_in_chromium_and_shows_every_section(full_report, tmp_path):
    sync_playwright = _browser_or_skip()
    from pellucid.audit.report_html import report_page

    page_file = tmp_path / "report.html"
    page_file.write_text(report_page(full_report), encoding="utf-8")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(offline=True)

            def guard(route):
                requests.append(route.request.url)
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.goto(page_file.as_uri())
            assert page.title() == "Pellucid audit · tiny"
            assert page.locator("#summary tr").count() == 1 + len(full_report.checks)
            for c in full_report.checks:
                section = page.locator(f"#check-{c.check}")
                assert section.is_visible(), c.check
                assert section.locator("h2").inner_text().startswith(c.check)
                assert section.locator("svg").count() >= 1, f"{c.check} has no chart ({c.error})"
                bbox = section.locator("svg").first.bounding_box()
                assert bbox and bbox["width"] > 100 and bbox["height"] > 20
            assert page.locator("#check-groundedness mark.bad").inner_text() == "Flight BA2490 leaves at 15:35."
            assert page.locator("#check-bias .tok").count() > 0
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [page_file.as_uri()], f"the page fetched something: {requests}"
