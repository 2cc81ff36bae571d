"""Block files: atomic, resumable, refused when they belong to another job, joined in block order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pellucid.batch.sink import BlockSink, flatten, read_results
from pellucid.errors import InvalidInputError

ROWS = [[{"row": 0, "x": 1.5, "tags": ["a"], "v": [1, None]}], [{"row": 1, "x": None, "tags": [], "v": [2.0]}]]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_blocks_join_in_block_order(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"r{suffix}"
    sink = BlockSink(out, {"job": 1}, 2)
    sink.write(1, ROWS[1])  # finish order differs from block order
    sink.write(0, ROWS[0])
    assert sink.done() == {0, 1}
    sink.finish()
    rows = read_results(out)
    assert [r["row"] for r in rows] == [0, 1]
    assert rows[0]["x"] == 1.5 and rows[1]["x"] is None
    assert json.loads(rows[0]["tags"]) == ["a"] and rows[1]["tags"] is None and rows[0]["v"] == [1.0, None]
    assert not sink.parts.exists()


def test_resume_skips_written_blocks_and_refuses_another_job(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    BlockSink(out, {"job": 1}, 3).write(1, ROWS[1])
    again = BlockSink(out, {"job": 1}, 3)
    assert again.done() == {1}
    with pytest.raises(InvalidInputError, match="different job.*--overwrite"):
        BlockSink(out, {"job": 2}, 3)
    with pytest.raises(InvalidInputError, match=r"Blocks \[0, 2\]"):
        again.finish()
    assert BlockSink(out, {"job": 2}, 3, overwrite=True).done() == set()


def test_a_finished_file_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    sink = BlockSink(out, {"job": 1}, 1)
    sink.write(0, ROWS[0])
    sink.finish()
    with pytest.raises(InvalidInputError, match="already exists.*--overwrite"):
        BlockSink(out, {"job": 1}, 1)


def test_unknown_format_names_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\.parquet or \.jsonl"):
        BlockSink(tmp_path / "r.csv", {}, 1)


def test_flatten_keeps_numbers_and_encodes_the_rest() -> None:
    flat = flatten({"a": 1, "b": True, "c": [1, 2.5], "d": {"k": 1}, "e": ["x"], "f": [float("nan")], "g": []})
    assert flat == {"a": 1, "b": True, "c": [1.0, 2.5], "d": '{"k": 1}', "e": '["x"]', "f": [None], "g": None}
