"""Repository queries on SQLite and PostgreSQL: idempotent inserts, filters, pagination, purge, feedback."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, RecordNotFoundError, Store, new_id
from pellucid.monitor.sql import embeddings, feedback, metrics, tags
from tests.monitor.conftest import at


def _table_count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_every_field_round_trips(store: Store, make) -> None:
    record = make(
        prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        response="Paris.",
        model="smollm2-135m-instruct",
        model_version="v3",
        template_version="chat-2",
        latency_ms=123.5,
        ttft_ms=40.25,
        prompt_tokens=41,
        completion_tokens=3,
        params={"temperature": 0.2, "top_p": 0.9, "stop": ["\n"]},
        user_id="u-1",
        session_id="s-1",
        tags=["canary", "eu"],
        metadata={"ticket": 17, "nested": {"ok": True}},
        cache_hit=False,
        cache_key="k1",
        redaction={"applied": True, "prompt": {"EMAIL": 1}},
        flags={"long_prompt": "x"},
        language="en",
        created_at=at("2026-03-01 12:00:00.123456"),
    )
    assert store.repo.insert_records([record]) == 1
    got = store.repo.get_record(record.id)
    assert got.id == record.id
    assert got.created_at == record.created_at and got.created_at.tzinfo is not None
    assert got.prompt == record.prompt
    assert got.prompt_text == "Be brief.\n\nCapital of France?"
    assert len(got.prompt_hash) == 64
    for name in (
        "response model model_version template_version latency_ms ttft_ms prompt_tokens completion_tokens params "
        "user_id session_id metadata cache_hit cache_key redaction flags language error"
    ).split():
        assert getattr(got, name) == getattr(record, name), name
    assert got.tags == ("canary", "eu")
    assert got.to_dict()["created_at"] == "2026-03-01T12:00:00.123456+00:00"


def test_retried_batch_is_not_duplicated(store: Store, make) -> None:
    batch = [make(tags=["a", "b"]) for _ in range(20)]
    assert store.repo.insert_records(batch) == 20
    assert store.repo.insert_records(batch) == 0
    assert store.repo.insert_records(batch[:5] + [make()]) == 1
    assert store.repo.count() == 21
    assert _table_count(store, tags) == 40


def test_duplicate_ids_inside_one_batch(store: Store, make) -> None:
    record = make()
    assert store.repo.insert_records([record, record, record]) == 1
    assert store.repo.count() == 1


def test_text_that_databases_reject_is_made_storable(store: Store, make) -> None:
    record = make(prompt="a\x00b", response="lone \ud800 surrogate", metadata={"k\x00": "v\x00"})
    store.repo.insert_records([record])
    got = store.repo.get_record(record.id)
    assert got.prompt == "a\ufffdb"
    assert got.response == "lone \ufffd surrogate"
    assert got.metadata == {"k\ufffd": "v\ufffd"}


def test_non_json_values_in_metadata_are_stored(store: Store, make) -> None:
    record = make(metadata={"when": at("2026-01-01 00:00"), "score": np.float32(0.5), "nan": float("nan")})
    store.repo.insert_records([record])
    assert store.repo.get_record(record.id).metadata == {
        "when": "2026-01-01 00:00:00+00:00",
        "score": 0.5,
        "nan": None,
    }


def test_get_missing_and_invalid_ids(store: Store) -> None:
    with pytest.raises(RecordNotFoundError, match="No record with id"):
        store.repo.get_record(new_id())
    with pytest.raises(InvalidInputError, match="not a record id"):
        store.repo.get_record("nope")


@pytest.fixture()
def corpus(store: Store, make):
    """Twelve records over three days, two versions, tags, flags, users and feedback."""
    rows = []
    for i in range(12):
        rows.append(
            make(
                prompt=f"question {i} about the weather" if i % 3 else f"QUESTION {i} about taxes",
                response=f"answer {i}",
                model="m",
                model_version="v1" if i < 6 else "v2",
                user_id=f"user-{i % 4}",
                session_id=f"s-{i % 2}",
                tags=["even"] if i % 2 == 0 else ["odd", "x"],
                flags={"long_prompt": "big"} if i in (3, 7) else {},
                cache_hit=i % 5 == 0,
                latency_ms=100.0 + i,
                created_at=at("2026-05-01 00:00") + timedelta(hours=6 * i),
            )
        )
    store.repo.insert_records(rows)
    store.repo.add_feedback(rows[0].id, "thumbs_up")
    store.repo.add_feedback(rows[1].id, "thumbs_down")
    store.repo.add_feedback(rows[2].id, "comment", comment="odd answer")
    return rows


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (RecordFilter(), list(range(12))),
        (RecordFilter(model_version="v2"), list(range(6, 12))),
        (RecordFilter(since=at("2026-05-02 00:00"), until=at("2026-05-03 00:00")), [4, 5, 6, 7]),
        (RecordFilter(tag="odd"), [1, 3, 5, 7, 9, 11]),
        (RecordFilter(tag="nope"), []),
        (RecordFilter(flag="long_prompt"), [3, 7]),
        (RecordFilter(feedback="any"), [0, 1, 2]),
        (RecordFilter(feedback="none"), list(range(3, 12))),
        (RecordFilter(feedback="thumbs_down"), [1]),
        (RecordFilter(text="taxes"), [0, 3, 6, 9]),
        (RecordFilter(text="question 1"), [1, 10, 11]),
        (RecordFilter(text="%"), []),
        (RecordFilter(user_id="user-1", session_id="s-1"), [1, 5, 9]),
        (RecordFilter(cache_hit=True), [0, 5, 10]),
        (RecordFilter(model_version="v1", tag="even", feedback="none"), [4]),
    ],
)
def test_filters(store: Store, corpus, flt: RecordFilter, expected: list[int]) -> None:
    page = store.repo.list_records(flt, limit=100, oldest_first=True)
    assert [r.id for r in page.items] == [corpus[i].id for i in expected]
    assert store.repo.count(flt) == len(expected)


def test_keyset_pagination_walks_everything_once(store: Store, make) -> None:
    same_time = at("2026-06-01 10:00")
    rows = [make(created_at=same_time if i % 3 == 0 else same_time + timedelta(seconds=i)) for i in range(37)]
    store.repo.insert_records(rows)
    for oldest_first in (False, True):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.repo.list_records(limit=10, cursor=cursor, oldest_first=oldest_first)
            seen.extend(r.id for r in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(seen) == len(set(seen)) == 37
        times = [(store.repo.get_record(i).created_at, i) for i in seen]
        assert times == sorted(times, reverse=not oldest_first)


def test_offset_pagination_and_total(store: Store, corpus) -> None:
    page = store.repo.list_records(limit=5, offset=10, with_total=True)
    assert [r.id for r in page.items] == [corpus[1].id, corpus[0].id]
    assert page.total == 12
    assert page.next_cursor is None
    assert store.repo.list_records(limit=5, offset=0).next_cursor is not None


def test_bad_pagination_arguments(store: Store) -> None:
    with pytest.raises(InvalidInputError):
        store.repo.list_records(limit=0)
    with pytest.raises(InvalidInputError):
        store.repo.list_records(cursor="abc", offset=3)
    with pytest.raises(InvalidInputError, match="Invalid page cursor"):
        store.repo.list_records(cursor="garbage")


def test_bad_filters_name_the_value() -> None:
    with pytest.raises(InvalidInputError, match="Available"):
        RecordFilter(feedback="love")
    with pytest.raises(InvalidInputError, match="swap"):
        RecordFilter(since=at("2026-02-01 00:00"), until=at("2026-01-01 00:00"))


def test_feedback(store: Store, make) -> None:
    record = make()
    store.repo.insert_records([record])
    up = store.repo.add_feedback(record.id, "thumbs_up", user_id="rev")
    score = store.repo.add_feedback(record.id, "score", 0.25)
    store.repo.add_feedback(record.id, "comment", comment="fine", id=score.id)  # same id: ignored
    got = store.repo.get_record(record.id)
    assert [(f.kind, f.value) for f in got.feedback] == [("thumbs_up", 1.0), ("score", 0.25)]
    assert got.feedback[0].user_id == "rev" and got.feedback[0].id == up.id
    with pytest.raises(RecordNotFoundError):
        store.repo.add_feedback(new_id(), "thumbs_down")
    with pytest.raises(InvalidInputError, match="Available"):
        store.repo.add_feedback(record.id, "love")
    with pytest.raises(InvalidInputError, match="score"):
        store.repo.add_feedback(record.id, "score")
    with pytest.raises(InvalidInputError, match="comment"):
        store.repo.add_feedback(record.id, "comment", comment="  ")


def test_purge_by_user_deletes_everything_about_them(store: Store, make) -> None:
    mine = make(user_id="gone", tags=["t"])
    theirs = make(user_id="stays", tags=["t"])
    store.repo.insert_records([mine, theirs])
    store.repo.add_feedback(mine.id, "thumbs_up")
    store.repo.add_feedback(theirs.id, "thumbs_down", user_id="gone")  # feedback *given* by the user
    store.repo.add_feedback(theirs.id, "thumbs_up", user_id="someone")
    store.repo.add_metrics([(mine.id, "perplexity", 3.0), (theirs.id, "perplexity", 4.0)])
    store.repo.add_embeddings([(mine.id, "prompt", "enc", [1.0, 2.0]), (theirs.id, "prompt", "enc", [3.0, 4.0])])

    assert store.repo.purge(user_id="gone") == 1
    assert store.repo.count() == 1
    with pytest.raises(RecordNotFoundError):
        store.repo.get_record(mine.id)
    assert _table_count(store, tags) == 1
    assert _table_count(store, metrics) == 1
    assert _table_count(store, embeddings) == 1
    assert _table_count(store, feedback) == 1
    assert [f.user_id for f in store.repo.get_record(theirs.id).feedback] == ["someone"]


def test_purge_by_age(store: Store, make) -> None:
    old = [make(created_at=at("2025-01-01 00:00")) for _ in range(3)]
    new = [make(created_at=at("2026-01-01 00:00")) for _ in range(2)]
    store.repo.insert_records(old + new)
    store.repo.add_feedback(old[0].id, "thumbs_up")
    assert store.repo.purge(before=at("2025-06-01 00:00")) == 3
    assert store.repo.count() == 2
    assert _table_count(store, feedback) == 0
    with pytest.raises(InvalidInputError, match="refusing"):
        store.repo.purge()


def test_find_cached(store: Store, make) -> None:
    failed = make(cache_key="k", response=None, error="boom", created_at=at("2026-01-03 00:00"))
    good = make(cache_key="k", response="cached answer", created_at=at("2026-01-02 00:00"))
    store.repo.insert_records([failed, good])
    hit = store.repo.find_cached("k")
    assert hit is not None and hit.id == good.id
    assert store.repo.find_cached("other") is None
    assert store.repo.find_cached("k", max_age=timedelta(seconds=1)) is None
