"""The Graph tab: build an attribution graph on the tiny model, hover a feature node for its contexts,
pin two nodes, group them into a supernode and ablate it, reading the measured and predicted changes.

This module serves its own app (the tiny model, a set of random per-layer transcoders, a store with
logged texts for the contexts) and overrides ``server`` for the ``page`` fixture.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.e2e.conftest import STATIC, Server, start_server, stop_server

pytestmark = [pytest.mark.e2e]

PROMPT = "a b c d e f"


@pytest.fixture(scope="module")
def served(tiny_lm, test_settings, tmp_path_factory) -> Iterator[Server]:
    if not STATIC.is_file():
        pytest.skip(f"the workbench is not built ({STATIC} missing): run scripts/build_frontend.sh")
    from pellucid.monitor import Store
    from pellucid.monitor.records import NewRecord
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool
    from tests.features.graph_support import random_transcoders, save_transcoders
    from tests.support.tiny import CORPUS

    folder = save_transcoders(random_transcoders(tiny_lm, seed=3), tmp_path_factory.mktemp("sets") / "tc")
    settings = test_settings.with_overrides(default_model=tiny_lm.name, transcoders=(folder,))
    pool = ModelPool(settings)
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('e2e-graph') / 'monitor.db'}")
    texts = [PROMPT, *CORPUS[:5]]
    store.repo.insert_records([NewRecord(prompt=t, response=t, model=tiny_lm.name) for t in texts])
    url, uv, thread = start_server(create_app(settings, pool, store))
    try:
        yield Server(url, None, store, tiny_lm.name, tiny_lm.name)
    finally:
        stop_server(uv, thread)
        store.close()


@pytest.fixture()
def server(served) -> Server:
    return served


def test_build_hover_pin_group_and_intervene(page) -> None:
    page.goto("/#graph")
    page.fill("#graph-prompt", PROMPT)
    assert page.locator("#graph-set").input_value() == "tc"
    page.click("#graph-run")
    features = page.locator("#graph-svg .graph-node.feature")
    features.first.wait_for()
    assert features.count() >= 2
    scores = page.locator("#graph-scores").inner_text()
    assert "replacement" in scores and "completeness" in scores and "self-check" in scores
    # a self-check that does not hold is said in words beside the scores, as the result says it
    job = re.search(r"job=([^&]+)", page.url)
    assert job is not None
    check = page.request.get(f"/api/graphs/{job.group(1)}").json()["graph"]["meta"]["self_check"]
    assert page.locator("#graph-check-warning").count() == (0 if check["holds"] else 1)
    # rows: embeddings at the top, logits at the bottom; columns: the prompt's tokens
    tokens_y = page.locator("#graph-svg .graph-node.token rect").first.get_attribute("y")
    logit_y = page.locator("#graph-svg .graph-node.logit rect").first.get_attribute("y")
    assert float(tokens_y) < float(logit_y)
    columns = page.locator("#graph-svg .graph-token").count()
    assert columns >= 6 and page.locator("#graph-svg .graph-node.token").count() == columns  # one token per column
    # hover: the tooltip with the node's id and its latent's top contexts, the activating token outlined
    first = features.first
    first.hover()
    tooltip = page.locator("#graph-tooltip")
    tooltip.locator(".feature-context").first.wait_for()
    assert first.get_attribute("data-id") in tooltip.inner_text()
    assert tooltip.locator(".ftok.peak").count() >= 1
    # pin one by click, the other by keyboard
    first.click()
    second = features.nth(1)
    second.focus()
    page.keyboard.press("Enter")
    ids = [first.get_attribute("data-id"), second.get_attribute("data-id")]
    assert page.locator("#graph-pins li").count() == 2
    assert page.locator("#graph-svg .graph-node.pinned").count() == 2
    for node_id in ids:
        page.locator(f"#graph-pins li[data-id='{node_id}'] input[type=checkbox]").check()
    page.fill("#graph-group-name", "pair")
    page.get_by_role("button", name="Group as supernode").click()
    page.locator("#graph-svg .graph-supernode[data-name='pair']").wait_for()
    assert page.locator("#graph-groups li").count() == 1
    state = unquote(page.evaluate("location.hash"))
    assert all(node_id in state for node_id in ids) and '"name":"pair"' in state
    # ablate the supernode: the card shows the measured change next to the graph's prediction
    page.select_option("#graph-intervene-on", "group:0")
    page.fill("#graph-scale", "0")
    page.click("#graph-intervene")
    card = page.locator("#graph-result")
    card.wait_for()
    number = re.compile(r"^-?\d+(\.\d+)?(e[-+]\d+)?$")
    assert number.match(card.locator("#graph-measured").inner_text())
    assert number.match(card.locator("#graph-predicted").inner_text())
    assert card.locator("tbody tr").count() == 5 and "supernode pair" in card.inner_text()
    # the Neuronpedia export carries the pins and the supernode under circuit-tracer's node ids
    with page.expect_download() as download:
        page.get_by_role("button", name="Export Neuronpedia JSON").click()
    exported = json.loads(Path(download.value.path()).read_text())
    expected = ["{}_{}_{}".format(*re.match(r"F(\d+)\.(\d+)@(\d+)", i).groups()) for i in ids]  # type: ignore[union-attr]
    assert exported["qParams"]["pinnedIds"] == expected and exported["qParams"]["supernodes"] == [["pair", *expected]]
    assert set(expected) <= {n["node_id"] for n in exported["nodes"]}


def test_the_address_reopens_the_graph_with_its_pins(page) -> None:
    page.goto("/#graph")
    page.fill("#graph-prompt", PROMPT)
    page.click("#graph-run")
    node = page.locator("#graph-svg .graph-node.feature").first
    node.wait_for()
    node.click()
    address = page.evaluate("location.href")
    page.goto("about:blank")
    page.goto(address)
    page.locator("#graph-svg .graph-node.pinned").wait_for()
    assert page.locator("#graph-pins li").count() == 1
    assert page.locator("#graph-prompt").input_value() == PROMPT


def test_narrow_screen_keeps_the_graph_usable(page) -> None:
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto("/#graph")
    page.fill("#graph-prompt", PROMPT)
    page.click("#graph-run")
    page.locator("#graph-svg .graph-node.feature").first.wait_for()
    side = page.locator("#graph-side").bounding_box()
    assert side is not None and side["x"] + side["width"] <= 800 + 1  # the panel wraps under the graph
    assert page.evaluate("document.documentElement.scrollWidth") <= 800  # nothing overflows the window
