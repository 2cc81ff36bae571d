"""``explain --dataset``: the template is shown, its words are not attributed, rows count from 1."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pellucid.attribution.faithfulness import fill_template, load_prompts
from pellucid.batch import read_results
from pellucid.cli.main import app
from pellucid.errors import InvalidInputError

TEMPLATE = "Review: {text}\nIs this review positive or negative? Answer:"


def test_fill_template_marks_where_the_text_went() -> None:
    prompt, span = fill_template(TEMPLATE, "a fine film")
    assert prompt == "Review: a fine film\nIs this review positive or negative? Answer:"
    assert span == (8, 19) and prompt[8:19] == "a fine film"
    assert fill_template("{{braces}} {text}!", "x") == ("{braces} x!", (9, 10))
    with pytest.raises(InvalidInputError, match=r"\{label\}"):
        fill_template("{label}: {text}", "x")


def test_load_prompts_numbers_rows_from_one_and_keeps_spans(tmp_path: Path) -> None:
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("label\tcontent\n1\tgreat acting\n0\t \n0\tdull plot\n", encoding="utf-8")
    data = load_prompts(tsv)
    assert data.rows == [1, 3], "the empty second row is skipped; numbers are the file's data rows"
    assert data.template is not None and "{text}" in data.template
    assert [p[a:b] for p, (a, b) in zip(data.prompts, data.spans)] == ["great acting", "dull plot"]  # type: ignore[misc]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "as is", "target": " x"}) + "\n", encoding="utf-8")
    given = load_prompts(jsonl)
    assert given.spans == [None] and given.template is None and given.rows == [1]


def _run(tmp_path: Path, tiny_dir: Path, *extra: str) -> tuple[list[dict], str]:
    data = tmp_path / "dev.tsv"
    data.write_text("label\tcontent\n1\tgreat acting here\n0\tdull plot\n", encoding="utf-8")
    out = tmp_path / f"rows{len(extra)}.jsonl"
    result = CliRunner().invoke(
        app,
        ["--home", str(tmp_path / "home"), "explain", "--dataset", str(data), "--model", str(tiny_dir), "--raw",
         "--method", "occlusion", "--out", str(out), *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = read_results(out)
    for row in rows:  # list columns are stored as JSON text
        row.update({k: json.loads(row[k]) for k in ("inputs", "scores", "top") if isinstance(row[k], str)})
    return rows, result.output


def test_dataset_attributes_only_the_rows_text_and_prints_the_template(tmp_path: Path, tiny_dir: Path) -> None:
    rows, output = _run(tmp_path, tiny_dir)
    assert "template: 'Review: {text}\\nIs this review positive or negative? Answer:'" in output
    assert "only the row's text" in output
    assert [r["row"] for r in rows] == [1, 2]
    first = rows[0]
    scored = [label for label, v in zip(first["inputs"], first["scores"]) if v is not None and not math.isnan(v)]
    assert "".join(scored).split() == ["great", "acting", "here"], scored
    assert not {"Review", "review", "Answer"} & {w.strip(" :?\n") for w in first["top"]}
    # the template's words are still shown, unscored, so the heat map reads as the prompt
    assert "".join(first["inputs"]).startswith("Review: great acting here\nIs this review")


def test_attribute_template_scores_every_word(tmp_path: Path, tiny_dir: Path) -> None:
    rows, output = _run(tmp_path, tiny_dir, "--attribute-template")
    assert "every word, the template's too" in output
    scored = [label for label, v in zip(rows[0]["inputs"], rows[0]["scores"]) if v is not None]
    assert any("Review" in label for label in scored) and any("Answer" in label for label in scored)
