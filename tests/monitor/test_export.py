"""Feedback exported as preference pairs (TRL's prompt/chosen/rejected) and supervised examples."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store, export_preferences, export_supervised, preference_pairs
from pellucid.monitor.export import supervised_examples
from tests.monitor.conftest import at

CHAT = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Say hi"}]


@pytest.fixture()
def rated(store: Store, make):
    t0 = at("2026-07-01 00:00")
    r = {
        "a_good": make("Capital of Italy?", "Rome.", model_version="v1", tags=["geo"], created_at=t0),
        "a_bad": make("Capital of Italy?", "Milan.", model_version="v2", tags=["geo"], created_at=t0 + timedelta(1)),
        "a_unrated": make("Capital of Italy?", "Turin.", model_version="v2", created_at=t0 + timedelta(2)),
        "b_best": make(CHAT, "Hi there!", model_version="v1", created_at=t0 + timedelta(3)),
        "b_mixed": make(CHAT, "hi", model_version="v2", created_at=t0 + timedelta(4)),
        "c_only": make("2+2?", "4", model_version="v2", tags=["math"], created_at=t0 + timedelta(5)),
        "c_commented": make("2+2?", "5", model_version="v2", created_at=t0 + timedelta(6)),
        "d_failed": make("3+3?", None, error="timeout", created_at=t0 + timedelta(7)),
        "d_ok": make("3+3?", "6", created_at=t0 + timedelta(8)),
    }
    store.repo.insert_records(list(r.values()))
    fb = store.repo.add_feedback
    fb(r["a_good"].id, "thumbs_up")
    fb(r["a_bad"].id, "thumbs_down")
    fb(r["b_best"].id, "thumbs_up")
    fb(r["b_best"].id, "thumbs_up")
    fb(r["b_mixed"].id, "thumbs_up")
    fb(r["b_mixed"].id, "thumbs_down")
    fb(r["c_only"].id, "thumbs_up")
    fb(r["c_commented"].id, "comment", comment="wrong")
    fb(r["d_failed"].id, "thumbs_down")
    fb(r["d_ok"].id, "score", 0.5)
    return r


def test_preference_pairs_in_trl_format(store: Store, rated) -> None:
    pairs = list(preference_pairs(store.repo, include_ids=True))
    by_chosen = {p["meta"]["chosen_id"]: p for p in pairs}
    assert set(by_chosen) == {rated["a_good"].id, rated["b_best"].id}
    text = by_chosen[rated["a_good"].id]
    assert {k: text[k] for k in ("prompt", "chosen", "rejected")} == {
        "prompt": "Capital of Italy?",
        "chosen": "Rome.",
        "rejected": "Milan.",
    }
    chat = by_chosen[rated["b_best"].id]
    assert chat["prompt"] == CHAT
    assert chat["chosen"] == [{"role": "assistant", "content": "Hi there!"}]
    assert chat["rejected"] == [{"role": "assistant", "content": "hi"}]
    assert chat["meta"]["chosen_rating"] == 1.0 and chat["meta"]["rejected_rating"] == 0.0


def test_pair_options_and_filters(store: Store, rated) -> None:
    assert len(list(preference_pairs(store.repo, margin=1.0))) == 1  # only Rome/Milan has a gap of 2
    assert list(preference_pairs(store.repo, RecordFilter(model_version="v2"))) == []  # both sides must match
    assert len(list(preference_pairs(store.repo, RecordFilter(tag="geo")))) == 1
    late = RecordFilter(since=at("2026-07-03 00:00"))
    assert [p["chosen"][0]["content"] for p in preference_pairs(store.repo, late)] == ["Hi there!"]
    with pytest.raises(InvalidInputError):
        list(preference_pairs(store.repo, margin=-1))


def test_supervised_examples(store: Store, rated) -> None:
    rows = list(supervised_examples(store.repo))
    assert {json.dumps(r["completion"]) for r in rows} == {
        json.dumps("Rome."),
        json.dumps([{"role": "assistant", "content": "Hi there!"}]),
        json.dumps("4"),
        json.dumps("6"),
    }
    assert all(set(r) == {"prompt", "completion"} for r in rows)
    assert len(list(supervised_examples(store.repo, min_rating=0.6))) == 3
    assert [r["completion"] for r in supervised_examples(store.repo, RecordFilter(tag="math"))] == ["4"]


def test_jsonl_files(store: Store, rated, tmp_path) -> None:
    n = export_preferences(store.repo, tmp_path / "out" / "prefs.jsonl")
    lines = (tmp_path / "out" / "prefs.jsonl").read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == 2
    assert all(set(json.loads(line)) == {"prompt", "chosen", "rejected"} for line in lines)
    n = export_supervised(store.repo, tmp_path / "sft.jsonl", RecordFilter(model_version="v1"), include_ids=True)
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text(encoding="utf-8").splitlines()]
    assert n == 2 and {r["meta"]["id"] for r in rows} == {rated["a_good"].id, rated["b_best"].id}
