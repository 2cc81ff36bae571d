"""Workbench timings in a real headless Chromium (Playwright) against a real server.

1. Click-to-heat-map: the Explain tab, a 43-token user prompt (73 with the chat template) on
   SmolLM2, occlusion — from the click on "Explain" until the shaded input is on screen. Shown
   next to the same request made directly over HTTP, so the browser's share is visible.
2. The records table over 100,000 logged records (SQLite): API time of the first page (with
   and without the total count), of a page deep in the cursor chain, and of filtered pages; and
   the browser time from opening the Monitor tab until the rows are drawn.
3. The embedding projector with 10,000 points: /api/projection time and the canvas draw time.

    python benchmarks/bench_ui.py                  # all three, medians of 5 runs
    python benchmarks/bench_ui.py --runs 3 --records 20000 --parts records,projector

Needs the built workbench (scripts/build_frontend.sh), Chromium (scripts/install_chromium.sh)
and Playwright (pip). Timings move 30–50 % between runs on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import ARGS, CHROMIUM, start_server, stop_server  # noqa: E402

PROMPT = (
    "The Eiffel Tower was built for the 1889 World's Fair, and millions of tourists visit it every "
    "year to enjoy the view from the top. In which city is the Eiffel Tower located?"
)
TARGET = "The Eiffel Tower is located in Paris."


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def seed_records(store, n: int, embed: int) -> list[str]:
    """``n`` records over 30 days (tags, feedback on 1 %), the newest ``embed`` with 384-d embeddings."""
    from pellucid.monitor import NewRecord

    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    ids: list[str] = []
    for start in range(0, n, 5000):
        batch = []
        for i in range(start, min(n, start + 5000)):
            batch.append(
                NewRecord(
                    prompt=[{"role": "user", "content": f"Does plan {i % 37} cover physiotherapy? Case {i}."}],
                    response=f"Yes, up to 20 sessions a year with a referral. Reference {i}.",
                    model="smollm2-135m-instruct",
                    model_version=f"v{i % 3}",
                    latency_ms=float(300 + i % 100),
                    prompt_tokens=40,
                    completion_tokens=20,
                    tags=["prod" if i % 10 else "canary"],
                    created_at=now - timedelta(seconds=(n - i) * 30 * 86400 / n),
                )
            )
        store.repo.insert_records(batch)
        ids.extend(r.id for r in batch)
    centres = rng.normal(size=(8, 384))
    vectors = [
        (rid, "prompt", "bench-encoder", centres[k % 8] + rng.normal(size=384) * 0.6)
        for k, rid in enumerate(ids[-embed:])
    ]
    for start in range(0, len(vectors), 2000):
        store.repo.add_embeddings(vectors[start : start + 2000])
    for rid in ids[:: max(1, n // 1000)]:
        store.repo.add_feedback(rid, "thumbs_up", None, None)
    return ids


def bench_explain(page, url: str, runs: int) -> None:
    """API and browser runs alternate, so both see the same machine load."""
    api_times, ui_times, server_times = [], [], []
    ui_server_times, ui_response_times = [], []
    body = {"prompt": PROMPT, "target": TARGET, "method": "occlusion"}
    httpx.post(f"{url}/api/explanations", json=body, timeout=600)  # warm-up
    page.goto(f"{url}/#explain")
    page.fill("#explain-prompt", PROMPT)
    page.fill("#explain-target", TARGET)
    page.select_option("#explain-method", "occlusion")
    for _ in range(runs):
        t = time.perf_counter()
        res = httpx.post(f"{url}/api/explanations", json=body, timeout=600).json()
        api_times.append(time.perf_counter() - t)
        server_times.append(res["meta"]["seconds"])
        page.evaluate("document.querySelector('#explain-result').replaceChildren()")
        t = time.perf_counter()
        with page.expect_response(lambda r: r.url.endswith("/api/explanations"), timeout=600_000) as response:
            page.click("#explain-run")
        answered = time.perf_counter() - t
        page.locator("#explain-result .top-features li").first.wait_for(timeout=600_000)
        ui_times.append(time.perf_counter() - t)
        ui_server_times.append(response.value.json()["meta"]["seconds"])
        ui_response_times.append(answered)
    top = page.locator("#explain-result .top-features li").first.get_attribute("data-token")
    attributed = sum(res["meta"]["label_info"]["input"]["attributed"])
    print(
        f"Explain, occlusion, SmolLM2: {len(res['labels']['input'])} input tokens ({attributed} attributed), "
        f"{len(res['labels']['target']) - 1}-token target; top word {top!r}:"
    )
    print(f"  method time (server meta.seconds) : {median_ms(server_times)}")
    print(f"  POST /api/explanations over HTTP  : {median_ms(api_times)}")
    print(f"  click → heat map in Chromium      : {median_ms(ui_times)}")
    print(f"  the browser's request: method time : {median_ms(ui_server_times)}")
    print(f"  the browser's request: response at : {median_ms(ui_response_times)}")
    overhead = [u - a for u, a in zip(ui_times, api_times)]
    print(f"  browser overhead (UI − HTTP, paired): {statistics.median(overhead) * 1000:.0f} ms")
    # The browser's own share without the server: parse + draw the same Explanation from a file.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "explanation.json"
        path.write_text(json.dumps(res))
        page.goto(f"{url}/#inspect")
        draws = []
        for _ in range(max(runs, 5)):
            page.evaluate("document.querySelector('#inspect-result').replaceChildren()")
            t = time.perf_counter()
            page.set_input_files("#inspect-file", str(path))
            page.locator("#inspect-result .top-features li").first.wait_for()
            draws.append(time.perf_counter() - t)
            page.set_input_files("#inspect-file", [])
    print(f"  browser only: file → heat map     : {median_ms(draws)}")


def bench_records(page, url: str, ids: list[str], runs: int) -> None:
    def timed(params: dict, n: int = runs) -> tuple[float, dict]:
        times, last = [], {}
        for _ in range(n):
            t = time.perf_counter()
            last = httpx.get(f"{url}/api/records", params=params, timeout=120).json()
            times.append(time.perf_counter() - t)
        return statistics.median(times), last

    print(f"Records table, {len(ids):,} records (SQLite), 50 per page:")
    for label, params in [
        ("first page", {"limit": 50}),
        ("first page + total count", {"limit": 50, "with_total": True}),
        ("tag=canary", {"limit": 50, "tag": "canary"}),
        ("feedback=thumbs_up", {"limit": 50, "feedback": "thumbs_up"}),
        (
            "model_version=v1, last 7 days",
            {"limit": 50, "model_version": "v1", "since": (datetime.now(UTC) - timedelta(days=7)).isoformat()},
        ),
        ("text search q='Case 4242.'", {"limit": 50, "q": "Case 4242."}),
    ]:
        seconds, data = timed(params)
        total = f", total {data['total']}" if data.get("total") is not None else ""
        print(f"  {label:<32}: {seconds * 1000:7.1f} ms  ({len(data['items'])} rows{total})")
    cursor, pages = None, 0
    for _ in range(200):  # walk 200 pages = 10,000 records deep
        data = httpx.get(
            f"{url}/api/records", params={"limit": 50, **({"cursor": cursor} if cursor else {})}, timeout=60
        ).json()
        cursor, pages = data["next_cursor"], pages + 1
    seconds, _ = timed({"limit": 50, "cursor": cursor})
    print(f"  {f'page {pages + 1} by cursor':<32}: {seconds * 1000:7.1f} ms")
    ui = []
    for _ in range(runs):
        page.goto(f"{url}/#explain")
        page.locator("#explain-run").wait_for()
        t = time.perf_counter()
        page.click("#tab-monitor")
        page.locator("#records-table tbody tr").nth(49).wait_for()
        page.wait_for_function("document.querySelector('#rec-info').textContent.includes('of')")
        ui.append(time.perf_counter() - t)
    print(f"  Monitor tab click → 50 rows + total in Chromium: {median_ms(ui)}")


def bench_projector(page, url: str, n: int, runs: int) -> None:
    api = []
    for _ in range(runs):
        t = time.perf_counter()
        data = httpx.get(f"{url}/api/projection", params={"limit": n, "clusters": 8}, timeout=300).json()
        api.append(time.perf_counter() - t)
    page.goto(f"{url}/#monitor/projector")
    page.fill("#proj-limit", str(n))
    page.click("#proj-run")
    page.locator("#projector-plot .scatter").wait_for(timeout=300_000)
    draws = page.evaluate(
        """() => { const c = document.querySelector('#projector-plot canvas'); const out = [];
                   for (let i = 0; i < 20; i++) { const t = performance.now();
                     c.dispatchEvent(new WheelEvent('wheel',
                       {deltaY: i % 2 ? 100 : -100, clientX: 300, clientY: 200, cancelable: true}));
                     out.push(performance.now() - t); }
                   return out; }"""
    )
    print(f"Projector, {len(data['points']):,} points:")
    print(f"  GET /api/projection (PCA + KMeans) : {median_ms(api)}")
    print(f"  canvas redraw (zoom), Chromium     : {statistics.median(draws):.1f} ms median, {max(draws):.1f} ms max")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--parts", default="explain,records,projector", help="Comma-separated subset to run.")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}

    import torch
    from playwright.sync_api import sync_playwright

    from pellucid.models import LM
    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool
    from pellucid.settings import Settings

    torch.set_num_threads(2)
    settings = Settings(home=Path(os.environ.get("PELLUCID_TEST_HOME", REPO / ".pellucid-test-home")))
    lm = LM.load("smollm2-135m-instruct", settings)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        t = time.perf_counter()
        ids = seed_records(store, args.records, args.points)
        print(f"(seeded {len(ids):,} records and {args.points:,} embeddings in {time.perf_counter() - t:.1f} s)")
        pool = ModelPool(settings.with_overrides(default_model=lm.name))
        pool.add(lm)
        url, server, thread = start_server(create_app(pool.settings, pool, store))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                if "explain" in parts:
                    bench_explain(page, url, args.runs)
                if "records" in parts:
                    bench_records(page, url, ids, args.runs)
                if "projector" in parts:
                    bench_projector(page, url, args.points, min(args.runs, 3))
                browser.close()
        finally:
            stop_server(server, thread)
            store.close()


if __name__ == "__main__":
    main()
