"""/api/records sorted by a column (server-side, paged) and exported as CSV / Parquet for the filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from pellucid.monitor import NewRecord

LATENCIES = [30.0, None, 10.0, 50.0, 20.0, 40.0, None]


def _seed(gateway) -> list[str]:
    """Seven records a second apart; two without a latency, tags alternate a / b."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [
        NewRecord(
            prompt=f"prompt {i}",
            response=f"answer {i}" * (i + 1),
            model="m",
            latency_ms=latency,
            prompt_tokens=i,
            tags=["a" if i % 2 == 0 else "b"],
            flags={"empty_prompt": "x"} if i == 3 else {},
            created_at=start + timedelta(seconds=i),
        )
        for i, latency in enumerate(LATENCIES)
    ]
    gateway.store.repo.insert_records(batch)
    return [r.id for r in batch]


def _ids(gateway, **params) -> list[str]:
    """Every id the listing answers for ``params``, following the cursor two rows at a time."""
    seen, cursor = [], None
    while True:
        page = gateway.client.get(
            "/api/records", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_sort_by_latency_pages_with_missing_values_last(gateway):
    ids = _seed(gateway)
    ascending = [ids[i] for i in (2, 4, 0, 5, 3)]
    missing = sorted([ids[1], ids[6]])
    assert _ids(gateway, sort="latency_ms", order="asc") == ascending + missing
    assert _ids(gateway, sort="latency_ms", order="desc") == ascending[::-1] + missing[::-1]
    assert _ids(gateway, sort="created_at", order="asc") == ids
    assert _ids(gateway, sort="response_chars", order="desc") == ids[::-1]
    assert _ids(gateway, sort="prompt_tokens", order="asc", tag="a") == [ids[0], ids[2], ids[4], ids[6]]
    first = gateway.client.get("/api/records", params={"sort": "latency_ms", "with_total": True, "limit": 3})
    assert first.json()["total"] == 7 and len(first.json()["items"]) == 3


def test_unknown_sort_column_is_a_clear_422(sqlite_gateway):
    res = sqlite_gateway.client.get("/api/records", params={"sort": "prompt"})
    assert res.status_code == 422
    message = res.json()["error"]["message"]
    assert "'prompt'" in message and "latency_ms" in message and "completion_tokens" in message
    assert sqlite_gateway.client.get("/api/records", params={"order": "up"}).status_code == 422
    keyset = sqlite_gateway.client.get("/api/records", params={"sort": "latency_ms", "cursor": "garbage"})
    assert keyset.status_code == 422 and "sorted listing" in keyset.json()["error"]["message"]


def test_export_holds_exactly_the_filtered_rows_in_order(sqlite_gateway):
    ids = _seed(sqlite_gateway)
    params = {"tag": "a", "sort": "latency_ms", "order": "asc"}
    listed = [r["id"] for r in sqlite_gateway.client.get("/api/records", params=params).json()["items"]]
    assert listed == [ids[2], ids[4], ids[0], ids[6]]

    res = sqlite_gateway.client.get("/api/records/export", params={**params, "format": "csv"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert 'filename="pellucid-records.csv"' in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert [r["id"] for r in rows] == listed
    assert [r["latency_ms"] for r in rows] == ["10.0", "20.0", "30.0", ""]
    assert rows[0]["prompt_text"] == "prompt 2" and rows[0]["tags"] == "a"

    res = sqlite_gateway.client.get("/api/records/export", params={**params, "format": "parquet"})
    table = pq.read_table(io.BytesIO(res.content))
    assert table.column("id").to_pylist() == listed
    assert table.column("latency_ms").to_pylist() == [10.0, 20.0, 30.0, None]
    assert table.column("tags").to_pylist() == [["a"]] * 4
    flagged = pq.read_table(
        io.BytesIO(sqlite_gateway.client.get("/api/records/export?format=parquet&flag=empty_prompt").content)
    )
    assert flagged.column("id").to_pylist() == [ids[3]] and flagged.column("flags").to_pylist() == [["empty_prompt"]]


def test_export_of_nothing_keeps_the_header_and_refuses_unknown_formats(sqlite_gateway):
    _seed(sqlite_gateway)
    empty = sqlite_gateway.client.get("/api/records/export", params={"model": "none"})
    assert empty.text.splitlines() == [
        "id,created_at,model,model_version,prompt_text,response,error,latency_ms,ttft_ms,prompt_tokens,"
        "completion_tokens,tags,flags"
    ]
    table = pq.read_table(
        io.BytesIO(sqlite_gateway.client.get("/api/records/export?format=parquet&model=none").content)
    )
    assert table.num_rows == 0 and "latency_ms" in table.column_names
    assert sqlite_gateway.client.get("/api/records/export", params={"format": "xlsx"}).status_code == 422
