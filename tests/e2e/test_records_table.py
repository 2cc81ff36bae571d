"""The records table: server-side sorting by a header click, a column chooser kept in the address,
and the export of exactly the filtered rows as CSV and Parquet."""

from __future__ import annotations

import csv
import io

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.seed import seed

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def seeded(server):
    return seed(server.store)


def _shown_ids(page) -> list[str]:
    return page.locator("#records-table tbody tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)")


def test_header_click_sorts_on_the_server(page, server, seeded):
    page.goto("/#monitor/records")
    page.fill("#rec-model", "synthetic-model")
    page.click("#rec-apply")
    page.locator("#records-table tbody tr[data-id]").first.wait_for()
    page.click("#records-table th[data-sort=latency_ms] button")
    page.wait_for_function("document.querySelector('#records-table th[data-sort=latency_ms]').ariaSort === 'ascending'")
    query = {"model": "synthetic-model", "sort": "latency_ms", "order": "asc", "limit": 50}
    expected = [r["id"] for r in httpx.get(f"{server.url}/api/records", params=query).json()["items"]]
    page.wait_for_function(f"document.querySelector('#records-table tbody tr[data-id]').dataset.id === '{expected[0]}'")
    assert _shown_ids(page) == expected
    assert "sort=latency_ms" in page.url and "order=asc" in page.url
    page.click("#records-table th[data-sort=latency_ms] button")  # again: descending
    query["order"] = "desc"
    expected = [r["id"] for r in httpx.get(f"{server.url}/api/records", params=query).json()["items"]]
    page.wait_for_function(f"document.querySelector('#records-table tbody tr[data-id]').dataset.id === '{expected[0]}'")
    assert _shown_ids(page) == expected
    # the next page continues the sorted order
    page.click("text=Next →")
    query["cursor"] = httpx.get(f"{server.url}/api/records", params=query).json()["next_cursor"]
    expected = [r["id"] for r in httpx.get(f"{server.url}/api/records", params=query).json()["items"]]
    page.wait_for_function(f"document.querySelector('#records-table tbody tr[data-id]').dataset.id === '{expected[0]}'")
    assert _shown_ids(page) == expected


def test_column_chooser_is_remembered_in_the_link(page, seeded):
    page.goto("/#monitor/records")
    page.locator("#records-table tbody tr[data-id]").first.wait_for()
    page.click("#rec-columns summary")
    page.uncheck("#rec-columns input[data-col=response]")
    page.check("#rec-columns input[data-col=flags]")
    headers = page.locator("#records-table thead th").all_inner_texts()
    assert "Response" not in headers and "Flags" in headers
    assert len(page.locator("#records-table tbody tr[data-id]").first.locator("td").all()) == len(headers)
    link = page.url
    assert "cols=" in link
    page.goto("about:blank")
    page.goto(link)
    page.locator("#records-table tbody tr[data-id]").first.wait_for()
    assert page.locator("#records-table thead th").all_inner_texts() == headers


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_holds_the_filtered_rows(page, server, seeded, fmt):
    page.goto("/#monitor/records")
    page.fill("#rec-version", "v2")
    page.click("#rec-apply")
    page.wait_for_function("document.querySelector('#rec-info').textContent.includes(' of ')")
    with page.expect_download() as info:
        page.click(f"text=Export {'CSV' if fmt == 'csv' else 'Parquet'}")
    data = open(info.value.path(), "rb").read()
    if fmt == "csv":
        ids = [row["id"] for row in csv.DictReader(io.StringIO(data.decode()))]
    else:
        ids = pq.read_table(io.BytesIO(data)).column("id").to_pylist()
    listed = httpx.get(f"{server.url}/api/records", params={"model_version": "v2", "limit": 1000}).json()["items"]
    everything = httpx.get(f"{server.url}/api/records", params={"limit": 1000}).json()["items"]
    # other test modules seed the same server's store too: compare with the API, not a fixed count
    assert ids == [r["id"] for r in listed] and len(ids) >= 40 and len(everything) > len(ids)
