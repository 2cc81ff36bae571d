"""The data-set view's service: pages of a file, the model run over examples, aggregate attribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.service.dataset import DatasetShelf, aggregate_attribution, dataset_page, run_examples
from pellucid.types import Explanation


def _ex(words: list[str], scores: list[list[float]]) -> Explanation:
    targets = [f"t{i}" for i in range(len(scores))]
    return Explanation(
        scores=np.array(scores, dtype=float),
        axes=("target", "input"),
        labels={"target": targets, "input": words},
        method="occlusion",
        model="m",
    )


def test_the_aggregate_of_one_row_is_its_attribution():
    row = _ex(["Great", " movie", "!"], [[0.5, -0.25, 0.125], [0.25, 0.5, float("nan")]])
    words = aggregate_attribution([row])
    assert [(w.word, w.mean, w.rows, w.occurrences) for w in words] == [
        ("Great", 0.75, 1, 1),
        ("movie", 0.25, 1, 1),
        ("!", 0.125, 1, 1),
    ]


def test_two_identical_rows_aggregate_as_one():
    row = _ex(["Great", " movie"], [[0.5, -0.25]])
    once = aggregate_attribution([row])
    twice = aggregate_attribution([row, row])
    assert [(w.word, w.mean) for w in twice] == [(w.word, w.mean) for w in once]
    assert [w.rows for w in twice] == [2, 2]


def test_words_are_summed_within_a_row_and_averaged_over_the_rows_holding_them():
    a = _ex(["bad", " film", " bad"], [[-1.0, 0.5, -0.5]])  # "bad" twice: -1.5 in this row
    b = _ex(["Bad", " plot"], [[-0.5, 2.0]])
    words = {w.word.casefold(): w for w in aggregate_attribution([a, b])}
    assert words["bad"].mean == -1.0 and words["bad"].rows == 2 and words["bad"].occurrences == 3
    assert words["plot"].mean == 2.0 and words["film"].mean == 0.5
    assert [w.word for w in aggregate_attribution([a, b], top=2)] == ["plot", "bad"]


def test_only_input_attributions_aggregate():
    lens = Explanation(
        np.zeros((2, 3)), ("layer", "position"), {"layer": ["0", "1"], "position": list("abc")}, "lens", "m"
    )
    with pytest.raises(InvalidInputError, match="over the input"):
        aggregate_attribution([lens])
    with pytest.raises(InvalidInputError, match="explain at least one row"):
        aggregate_attribution([])


def test_pages_of_a_file_and_clear_refusals(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"review {i},{i % 2}\n" for i in range(7)) + ",1\n")
    page = dataset_page(path, offset=5, limit=4)
    assert (page.name, page.total, page.skipped, page.offset) == ("reviews.csv", 7, 1, 5)
    assert [e.row for e in page.examples] == [6, 7]
    assert page.examples[0].prompt.startswith("Review: review 5") and page.examples[0].target == " positive"
    custom = dataset_page(path, template="Say: {text}", limit=1)
    assert custom.examples[0].prompt == "Say: review 0" and custom.template == "Say: {text}"
    with pytest.raises(InvalidInputError, match="No data-set file"):
        dataset_page(tmp_path / "missing.jsonl")
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("title\tscore\nHello\t3\n")
    with pytest.raises(InvalidInputError, match=r"fields: \['score', 'title'\]"):
        dataset_page(wrong)
    with pytest.raises(InvalidInputError, match="limit must be between"):
        dataset_page(path, limit=0)


def test_running_examples_answers_and_scores_targets(tiny_lm):
    seen: list[tuple[int, int]] = []
    runs = run_examples(
        tiny_lm,
        [("Hello there", None), ("Is it good?", " yes")],
        max_new_tokens=3,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(1, 2), (2, 2)]
    first, second = runs
    assert first.metrics["target_logprob"] is None and first.metrics["answer_tokens"] == 3.0
    assert second.metrics["target_logprob"] < 0
    assert math.isclose(second.metrics["target_prob"], math.exp(second.metrics["target_logprob"]), rel_tol=1e-9)
    expected = not second.answer.strip().casefold().startswith("yes")
    assert ("answer_differs_from_target" in second.flags) is expected


def test_a_shelf_keeps_uploads_by_content_and_forgets_the_oldest():
    shelf = DatasetShelf(size=2)
    a = shelf.open_text("a.jsonl", '{"prompt": "one", "target": " x"}\n{"prompt": "two"}\n')
    assert shelf.open_text("again.jsonl", '{"prompt": "one", "target": " x"}\n{"prompt": "two"}\n') == a
    page = shelf.page(a, limit=10)
    assert [(e.row, e.prompt, e.target) for e in page.examples] == [(1, "one", " x"), (2, "two", None)]
    b = shelf.open_text("b.csv", "text\nfine\n")
    shelf.open_text("c.csv", "text\nother\n")
    assert shelf.page(b).total == 1
    with pytest.raises(InvalidInputError, match="open the file again"):
        shelf.page(a)
    with pytest.raises(InvalidInputError, match=r"must end in \.jsonl"):
        shelf.open_text("notes.txt", "hello")
