"""/api/records: listing with filters and cursor pages, one record, feedback; and the response cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

GREEDY = {"temperature": 0, "max_tokens": 4}


def test_feedback_round_trip(gateway):
    record_id = gateway.chat(**GREEDY).headers["X-Pellucid-Record-Id"]
    # no flush: the route waits for the writer when the record is not written yet
    res = gateway.client.post(f"/api/records/{record_id}/feedback", json={"kind": "thumbs_up", "user_id": "u9"})
    assert res.status_code == 201
    up = res.json()
    assert (up["record_id"], up["kind"], up["value"], up["user_id"]) == (record_id, "thumbs_up", 1.0, "u9")
    score = gateway.client.post(f"/api/records/{record_id}/feedback", json={"kind": "score", "value": 0.25}).json()
    note = gateway.client.post(
        f"/api/records/{record_id}/feedback", json={"kind": "comment", "comment": "terse"}
    ).json()
    record = gateway.client.get(f"/api/records/{record_id}").json()
    assert record["id"] == record_id
    assert [f["id"] for f in record["feedback"]] == [up["id"], score["id"], note["id"]]
    assert [(f["kind"], f["value"], f["comment"]) for f in record["feedback"]] == [
        ("thumbs_up", 1.0, None),
        ("score", 0.25, None),
        ("comment", None, "terse"),
    ]
    listed = gateway.client.get("/api/records", params={"feedback": "thumbs_up"}).json()["items"]
    assert [r["id"] for r in listed] == [record_id]
    assert gateway.client.get("/api/records", params={"feedback": "thumbs_down"}).json()["items"] == []


def test_feedback_is_idempotent_by_id(gateway):
    record_id = gateway.chat(**GREEDY).headers["X-Pellucid-Record-Id"]
    body = {"kind": "thumbs_down", "id": "01890a5d-ac96-774b-bcce-b302099a8057"}
    for _ in range(2):
        assert gateway.client.post(f"/api/records/{record_id}/feedback", json=body).status_code == 201
    assert len(gateway.client.get(f"/api/records/{record_id}").json()["feedback"]) == 1


def test_unknown_and_malformed_ids_are_404(sqlite_gateway):
    unknown = "01890a5d-ac96-774b-bcce-b302099a8057"
    for path in (f"/api/records/{unknown}", "/api/records/not-an-id"):
        res = sqlite_gateway.client.get(path)
        assert res.status_code == 404 and res.json()["error"]["type"] == "RecordNotFoundError"
    res = sqlite_gateway.client.post(f"/api/records/{unknown}/feedback", json={"kind": "thumbs_up"})
    assert res.status_code == 404 and unknown in res.json()["error"]["message"]


def test_bad_feedback_is_rejected(sqlite_gateway):
    record_id = sqlite_gateway.chat(**GREEDY).headers["X-Pellucid-Record-Id"]
    res = sqlite_gateway.client.post(f"/api/records/{record_id}/feedback", json={"kind": "meh"})
    assert res.status_code == 422
    res = sqlite_gateway.client.post(f"/api/records/{record_id}/feedback", json={"kind": "score"})
    assert res.status_code == 422 and "finite numeric value" in res.json()["error"]["message"]


def test_pages_and_filters(gateway):
    calls = [
        ("alice", "s1", "canary"),
        ("bob", "s1", "canary"),
        ("alice", "s2", "stable"),
        ("carol", "s3", "stable"),
        ("alice", "s2", "canary"),
        ("bob", "s4", "stable"),
        ("dave", "s5", "stable"),
    ]
    ids = []
    for i, (user, session, tag) in enumerate(calls):
        headers = {"X-Pellucid-User": user, "X-Pellucid-Session": session, "X-Pellucid-Tags": tag}
        res = gateway.chat(f"question {i} {'paris' if i == 3 else ''}", headers=headers, **GREEDY)
        ids.append(res.headers["X-Pellucid-Record-Id"])
    gateway.flush()

    seen, cursor, sizes = [], None, []
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = gateway.client.get("/api/records", params=params).json()
        sizes.append(len(page["items"]))
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1] and seen == ids[::-1]  # newest first, each once

    def listed(**params):
        return [r["id"] for r in gateway.client.get("/api/records", params=params).json()["items"]]

    assert listed(user_id="alice", oldest_first=True) == [ids[0], ids[2], ids[4]]
    assert listed(session_id="s1", oldest_first=True) == ids[:2]
    assert sorted(listed(tag="canary")) == sorted([ids[0], ids[1], ids[4]])
    assert listed(q="PARIS") == [ids[3]]
    assert len(listed(model=gateway.model)) == 7 and listed(model="other") == []
    now = datetime.now(UTC)
    assert len(listed(since=(now - timedelta(hours=1)).isoformat())) == 7
    assert listed(until=(now - timedelta(hours=1)).isoformat()) == []
    page = gateway.client.get("/api/records", params={"user_id": "bob", "with_total": True, "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next_cursor"]
    assert gateway.client.get("/api/records", params={"cursor": "garbage"}).status_code == 422
    assert gateway.client.get("/api/records", params={"feedback": "loved"}).status_code == 422


def test_cache_miss_then_hit(gateway):
    first = gateway.chat(cache=True, **GREEDY)
    assert first.json()["pellucid"]["cache_hit"] is False
    gateway.flush()
    second = gateway.chat(headers={"X-Pellucid-Cache": "1"}, **GREEDY)
    body = second.json()
    assert body["pellucid"]["cache_hit"] is True
    assert body["choices"] == first.json()["choices"] and body["usage"] == first.json()["usage"]
    streamed = gateway.chat(cache=True, stream=True, **GREEDY)
    assert '"cache_hit": true' in streamed.text and streamed.text.endswith("data: [DONE]\n\n")
    sampled = gateway.chat(cache=True, temperature=0.7, seed=1, max_tokens=4)
    other_length = gateway.chat(cache=True, temperature=0, max_tokens=5)

    miss, hit, stream_hit, not_used, miss2 = gateway.records()
    assert (miss.cache_hit, hit.cache_hit, stream_hit.cache_hit, not_used.cache_hit, miss2.cache_hit) == (
        False,
        True,
        True,
        False,
        False,
    )
    assert miss.metadata["gateway"]["cache"] == "miss"
    assert hit.metadata["gateway"]["cache"] == "hit" and hit.metadata["gateway"]["cached_from"] == miss.id
    assert hit.cache_key == miss.cache_key == stream_hit.cache_key != miss2.cache_key
    assert hit.response == miss.response and hit.completion_tokens == miss.completion_tokens
    assert not_used.cache_key is None and "temperature 0" in not_used.metadata["gateway"]["cache"]
    assert sampled.json()["pellucid"]["cache_hit"] is False and other_length.status_code == 200
    filtered = gateway.client.get("/api/records", params={"cache_hit": True}).json()["items"]
    assert {r["id"] for r in filtered} == {hit.id, stream_hit.id}


def test_uncached_calls_still_answer_fresh(sqlite_gateway):
    sqlite_gateway.chat(**GREEDY)
    sqlite_gateway.flush()
    again = sqlite_gateway.chat(**GREEDY)  # no opt-in: generated again
    assert again.json()["pellucid"]["cache_hit"] is False
    first, second = sqlite_gateway.records()
    assert first.cache_key == second.cache_key and second.metadata["gateway"]["cache_requested"] is False
