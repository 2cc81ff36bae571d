"""The Features tab: a feature's page, the features at each token of a prompt, and the moved features
linking to the Monitor records where they fire.

This module serves its own app (the bundled SmolLM2 and a random dictionary at one of its sites,
saved with the dictionary save function) and overrides ``server`` for the ``page`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import torch

from tests.e2e.conftest import STATIC, Server, start_server, stop_server

pytestmark = [pytest.mark.e2e]

SITE = "blocks.3.resid_post"
CONCEPT = 11  # stored for every record of the last day and none before
TEXTS = ["Where is the Eiffel Tower?", "It is in Paris, the capital of France.", "I love this movie."]


def _dictionary(lm, folder):
    from pellucid.features import saelens_format
    from pellucid.features.activations import site_width
    from pellucid.features.dictionary import DictionaryConfig, SparseDictionary

    d = site_width(lm, SITE)
    dictionary = SparseDictionary(DictionaryConfig("topk", d, 256, 4, SITE, lm.name, lm.version))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in dictionary.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / d**0.5)
    saelens_format.save(dictionary, folder)
    return dictionary


def _log(store, model: str) -> dict[str, list[str]]:
    """Twelve answered calls a day on the 2nd and 3rd days before now; CONCEPT stored only on the last day."""
    from pellucid.monitor import NewRecord

    now = datetime.now(UTC)
    ids: dict[str, list[str]] = {}
    for window, start in (("reference", now - timedelta(days=3)), ("current", now - timedelta(hours=12))):
        times = [start + timedelta(minutes=i) for i in range(12)]
        batch = [
            NewRecord(prompt=TEXTS[i % 3], response=TEXTS[(i + 1) % 3], model=model, created_at=times[i])
            for i in range(12)
        ]
        store.repo.insert_records(batch)
        ids[window] = [r.id for r in batch]
        concept = [(CONCEPT, 3.0)] if window == "current" else []
        store.repo.add_features("sae", [(rid, [(1, 1.0), *concept]) for rid in ids[window]])
    return ids


@pytest.fixture(scope="module")
def served(smollm, tiny_lm, test_settings, tmp_path_factory) -> Iterator[tuple[Server, object, dict[str, list[str]]]]:
    if not STATIC.is_file():
        pytest.skip(f"the workbench is not built ({STATIC} missing): run scripts/build_frontend.sh")
    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    folder = tmp_path_factory.mktemp("dictionaries") / "sae"
    dictionary = _dictionary(smollm, folder)
    settings = test_settings.with_overrides(default_model=smollm.name, feature_dictionaries=(folder,))
    pool = ModelPool(settings)
    pool.add(smollm)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('e2e-features') / 'monitor.db'}")
    ids = _log(store, smollm.name)
    url, uv, thread = start_server(create_app(settings, pool, store))
    try:
        yield Server(url, None, store, smollm.name, tiny_lm.name), dictionary, ids
    finally:
        stop_server(uv, thread)
        store.close()


@pytest.fixture()
def server(served) -> Server:
    return served[0]


def test_the_feature_page_shows_contexts_histogram_and_logit_effects(page, served) -> None:
    import httpx

    srv = served[0]
    tokens = httpx.post(f"{srv.url}/api/features/sae/tokens", json={"prompt": TEXTS[1], "k": 1}, timeout=60).json()
    latent = tokens["features"][2][0]["latent"]  # fires on a logged text
    page.goto(f"/#features/sae/{latent}")
    body = page.locator("#feature-page .feature-page-body")
    body.locator(".feature-context").first.wait_for()
    assert page.locator("#dictionary-select").input_value() == "sae"
    assert "256 latents" in page.locator("#dictionary-facts").inner_text()
    facts = body.locator(".feature-facts").inner_text()
    assert facts.startswith("Fires on ") and SITE in facts
    # the strongest token of each context is outlined and active
    peaks = body.locator(".feature-context .ftok.peak")
    assert peaks.count() == body.locator(".feature-context").count() >= 1
    assert all(float(a) > 0 for a in peaks.evaluate_all("els => els.map(e => e.dataset.activation)"))
    assert body.locator(".feature-histogram .hbar").count() == 20
    assert body.locator(".feature-effects.promoted li").count() == 10


def test_tokens_then_latent_then_its_page(page, served) -> None:
    page.goto("/#features/sae")
    page.fill("#features-prompt", "The capital of France is Paris.")
    page.fill("#features-k", "3")
    page.click("#features-run")
    chips = page.locator("#features-tokens .ftok")
    chips.first.wait_for()
    assert chips.count() >= 6
    chips.nth(3).click()
    latents = page.locator("#token-latents .feature-link")
    assert 1 <= latents.count() <= 3
    first = latents.first.get_attribute("data-latent")
    latents.first.click()
    page.wait_for_url(f"**/#features/sae/{first}")
    page.locator(f"#feature-page[data-latent='{first}'] .feature-facts").wait_for()


def test_moved_features_link_to_the_records_where_they_fire(page, served) -> None:
    _, _, ids = served
    page.goto("/#features/sae")
    page.fill("#moved-ref", "last:5d")
    page.fill("#moved-cur", "last:1d")
    page.click("#moved-run")
    row = page.locator("#moved-table tbody tr").first
    row.wait_for()
    assert row.get_attribute("data-latent") == str(CONCEPT) and "appeared" in row.inner_text()
    row.locator("a.moved-records").click()
    page.wait_for_function("decodeURIComponent(location.hash) === '#monitor/records?feature=sae:11'")
    assert page.locator("#rec-feature").input_value() == f"sae:{CONCEPT}"
    page.wait_for_function("document.querySelectorAll('#records-table tbody tr').length === 12")
    shown = page.locator("#records-table tbody tr").evaluate_all("els => els.map(e => e.dataset.id)")
    assert sorted(shown) == sorted(ids["current"])
    # back to the list, its feature link opens the page
    page.go_back()
    page.locator(f"#moved-table a.feature-link[data-latent='{CONCEPT}']").click()
    page.wait_for_url(f"**/#features/sae/{CONCEPT}")
    page.locator(f"#feature-page[data-latent='{CONCEPT}'] .feature-records li").first.wait_for()
