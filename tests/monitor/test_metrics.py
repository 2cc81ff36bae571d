"""Evaluation metrics: equal to the reference libraries, exact where exact, clear when misused."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from scipy.stats import pointbiserialr, spearmanr

from pellucid.errors import InvalidInputError, UnknownNameError
from pellucid.monitor.metrics import (
    METRIC_GROUPS,
    METRICS,
    MetricInputError,
    bleu,
    chrf,
    compute_metrics,
    correlation_with_feedback,
    exact_match,
    expand_metric_names,
    load_metric,
    normalize_text,
    perplexity,
    rouge,
    semantic_similarity,
)

PREDICTIONS = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "I cannot help with that request, sorry.",
    "Water boils at 100 degrees Celsius at sea level.",
]
REFERENCES = [
    "A cat was sitting on the mat.",
    "The capital of France is Paris.",
    "Sorry, I can't help with that.",
    "At sea level, water boils at 100 °C.",
]


def bag_of_letters(texts: list[str]) -> np.ndarray:
    """A deterministic toy embedding: letter counts."""
    return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)


# -- equal to sacrebleu and rouge-score called directly ----------------------------------


def test_bleu_equals_sacrebleu() -> None:
    result = bleu(PREDICTIONS, REFERENCES)
    assert result.aggregate == pytest.approx(sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score)
    assert result.values == pytest.approx(
        [sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDICTIONS, REFERENCES, strict=True)]
    )
    assert result.aggregation == "corpus" and "nrefs:1" in result.details["signature"]


def test_bleu_with_a_variable_number_of_references_equals_sacrebleu() -> None:
    refs = [[REFERENCES[0], "The cat sat on a mat."], REFERENCES[1], [REFERENCES[2]], REFERENCES[3]]
    streams = [[r[0] if isinstance(r, list) else r for r in refs], ["The cat sat on a mat.", None, None, None]]
    result = bleu(PREDICTIONS, refs)
    assert result.aggregate == pytest.approx(sacrebleu.corpus_bleu(PREDICTIONS, streams).score)
    assert result.values[0] == pytest.approx(sacrebleu.sentence_bleu(PREDICTIONS[0], refs[0]).score)


def test_chrf_equals_sacrebleu() -> None:
    result = chrf(PREDICTIONS, REFERENCES)
    assert result.aggregate == pytest.approx(sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES]).score)
    assert result.values == pytest.approx(
        [sacrebleu.sentence_chrf(p, [r]).score for p, r in zip(PREDICTIONS, REFERENCES, strict=True)]
    )
    plus = chrf(PREDICTIONS, REFERENCES, word_order=2)
    assert plus.aggregate == pytest.approx(sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES], word_order=2).score)


def test_rouge_equals_rouge_score() -> None:
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    direct = [scorer.score(r, p) for p, r in zip(PREDICTIONS, REFERENCES, strict=True)]
    results = rouge(PREDICTIONS, REFERENCES)
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = [d[name].fmeasure for d in direct]
        assert results[name].values == pytest.approx(expected)
        assert results[name].aggregate == pytest.approx(np.mean(expected))


def test_rouge_with_several_references_keeps_the_best() -> None:
    refs = [["a dog ran", REFERENCES[0]]]
    expected = RougeScorer(["rougeL"], use_stemmer=True).score_multi(refs[0], PREDICTIONS[0])["rougeL"].fmeasure
    assert rouge(PREDICTIONS[:1], refs, types=("rougeL",))["rougeL"].values == pytest.approx([expected])


# -- exact identities ---------------------------------------------------------------------


def test_identical_text_scores_perfectly() -> None:
    texts = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."]
    results = compute_metrics("bleu,chrf,rouge,exact_match", texts, texts)
    assert results["bleu"].aggregate == pytest.approx(100.0)
    assert results["chrf"].aggregate == pytest.approx(100.0)
    assert all(results[n].values == pytest.approx([1.0, 1.0]) for n in ("rouge1", "rouge2", "rougeL", "exact_match"))
    assert semantic_similarity(texts, texts, embed=bag_of_letters).values == pytest.approx([1.0, 1.0])


def test_exact_match_normalisation() -> None:
    assert normalize_text("  The Eiffel  Tower!! ") == "eiffel tower"
    assert normalize_text("Ｐａｒｉｓ。") == "paris"  # NFKC folds full-width letters; CJK punctuation is dropped
    result = exact_match(["The Paris!", "Paris", "Lyon"], ["paris", ["London", "paris."], "Paris"])
    assert result.values == (1.0, 1.0, 0.0) and result.aggregate == pytest.approx(2 / 3)
    assert exact_match(["The Paris!"], ["paris"], normalize=False).values == (0.0,)


def test_semantic_similarity_is_the_cosine_of_normalised_embeddings() -> None:
    vectors = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, -2.0]}

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([vectors[t] for t in texts])

    result = semantic_similarity(["a", "a"], ["b", ["c", "b"]], embed=embed)
    assert result.values == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert semantic_similarity(["b"], ["c"], embed=embed).values == pytest.approx([-1 / math.sqrt(2)])


def test_perplexity_from_token_log_probs() -> None:
    half, vocab = math.log(0.5), 50
    result = perplexity([[half] * 3, [-math.log(vocab)] * 7])
    assert result.values == pytest.approx([2.0, 50.0])
    assert result.aggregate == pytest.approx(26.0) and result.higher_is_better is False
    pooled = math.exp((3 * math.log(2) + 7 * math.log(vocab)) / 10)
    assert result.details["corpus_perplexity"] == pytest.approx(pooled) and result.details["n_tokens"] == 10
    assert perplexity([[0.0, 0.0]]).values == (1.0,)


# -- registry and compute_metrics ---------------------------------------------------------


def test_registry_lists_every_metric_and_groups_expand() -> None:
    assert set(METRICS) == {
        "bleu",
        "chrf",
        "rouge1",
        "rouge2",
        "rougeL",
        "exact_match",
        "semantic_similarity",
        "perplexity",
    }
    assert METRIC_GROUPS["rouge"] == ("rouge1", "rouge2", "rougeL")
    assert expand_metric_names("bleu, rouge,rougeL") == ["bleu", "rouge1", "rouge2", "rougeL"]


def test_compute_metrics_runs_everything_and_round_trips_json() -> None:
    logprobs = [[-0.1, -0.2], [-1.0], [-0.5, -0.3, -0.2], [-2.0]]
    results = compute_metrics(
        "bleu,chrf,rouge,perplexity,semantic_similarity,exact_match",
        PREDICTIONS,
        REFERENCES,
        embed=bag_of_letters,
        token_logprobs=logprobs,
    )
    assert list(results) == [
        "bleu",
        "chrf",
        "rouge1",
        "rouge2",
        "rougeL",
        "perplexity",
        "semantic_similarity",
        "exact_match",
    ]
    for result in results.values():
        assert len(result.values) == len(PREDICTIONS)
        data = json.loads(json.dumps(result.to_dict()))
        assert data["name"] == result.name and data["aggregate"] == pytest.approx(result.aggregate)
    assert results["bleu"].aggregate == pytest.approx(bleu(PREDICTIONS, REFERENCES).aggregate)


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown metric: 'blue'. Available: bleu, chrf, exact_match"):
        compute_metrics("blue", PREDICTIONS, REFERENCES)


def test_missing_inputs_are_named_with_the_fix() -> None:
    with pytest.raises(MetricInputError, match="'perplexity' needs token_logprobs"):
        compute_metrics("perplexity", PREDICTIONS, REFERENCES)
    with pytest.raises(MetricInputError, match="'semantic_similarity' needs embed"):
        compute_metrics("semantic_similarity", PREDICTIONS, REFERENCES)
    with pytest.raises(MetricInputError, match="'bleu' needs references"):
        compute_metrics("bleu", PREDICTIONS)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([], [], "predictions is empty"),
        ("one string", ["x"], "not one string"),
        (["a", "b"], ["a"], "Got 2 predictions but 1 references"),
        (["a"], [[]], r"references\[0\] must be a string or a non-empty list"),
        ([3], ["a"], r"predictions\[0\] is int"),
    ],
)
def test_bad_predictions_and_references(predictions: object, references: object, message: str) -> None:
    with pytest.raises(MetricInputError, match=message):
        bleu(predictions, references)  # type: ignore[arg-type]


def test_bad_log_probs_and_embeddings() -> None:
    with pytest.raises(MetricInputError, match=r"token_logprobs\[1\] has a positive value"):
        perplexity([[-0.1], [0.7]])
    with pytest.raises(MetricInputError, match=r"token_logprobs\[0\] is empty"):
        perplexity([[]])
    with pytest.raises(MetricInputError, match="one row per text"):
        semantic_similarity(["a"], ["b"], embed=lambda texts: np.ones(3))
    with pytest.raises(MetricInputError, match="zero vector"):
        semantic_similarity(["123"], ["b"], embed=bag_of_letters)


# -- custom metrics -----------------------------------------------------------------------


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"user_metrics_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            '''
            def politeness(prediction, reference):
                """1 when the response says sorry."""
                return float("sorry" in prediction.lower())

            def length_ratio(predictions, references):
                return [len(p) / len(r) for p, r in zip(predictions, references)]

            def broken(prediction, reference):
                return "high"

            NOT_A_FUNCTION = 3
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_custom_metric_by_module_path(user_module: str) -> None:
    metric = load_metric(f"{user_module}:politeness")
    assert metric.name == "politeness" and metric.description == "1 when the response says sorry."
    results = compute_metrics(f"bleu,{user_module}:politeness", PREDICTIONS, REFERENCES)
    assert results["politeness"].values == (0.0, 0.0, 1.0, 0.0)
    assert results["politeness"].aggregate == pytest.approx(0.25)
    batched = compute_metrics(
        ["length"],
        PREDICTIONS,
        REFERENCES,
        custom={"length": load_metric(f"{user_module}:length_ratio", batched=True, name="length")},
    )
    assert batched["length"].values == pytest.approx(
        [len(p) / len(r) for p, r in zip(PREDICTIONS, REFERENCES, strict=True)]
    )


def test_custom_metric_errors_name_the_problem(user_module: str) -> None:
    with pytest.raises(InvalidInputError, match="module 'no_such_pkg.metrics' cannot be imported"):
        load_metric("no_such_pkg.metrics:score")
    with pytest.raises(
        InvalidInputError, match=r"has no 'missing'. Callables it defines: broken, length_ratio, politeness"
    ):
        load_metric(f"{user_module}:missing")
    with pytest.raises(InvalidInputError, match="is a int, not a function"):
        load_metric(f"{user_module}:NOT_A_FUNCTION")
    with pytest.raises(InvalidInputError, match="not of the form 'package.module:function'"):
        load_metric("politeness:")
    with pytest.raises(MetricInputError, match="returned 'high' for example 0; return a number"):
        compute_metrics(f"{user_module}:broken", PREDICTIONS, REFERENCES)


# -- correlation with feedback ------------------------------------------------------------


def test_correlation_with_thumbs_equals_scipy() -> None:
    values = [0.9, 0.2, 0.8, 0.4, 0.7, 0.1, 0.6, 0.3, None, 0.5]
    thumbs = ["up", "down", True, 0, "👍", "thumbs_down", 1, "down", "up", None]
    result = correlation_with_feedback(values, thumbs, metric="rougeL")
    x = np.array([0.9, 0.2, 0.8, 0.4, 0.7, 0.1, 0.6, 0.3])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    assert (result.n, result.n_dropped, result.binary) == (8, 2, True)
    assert result.spearman == pytest.approx(spearmanr(x, y).statistic)
    assert result.spearman_p == pytest.approx(spearmanr(x, y).pvalue)
    assert result.point_biserial == pytest.approx(pointbiserialr(y, x).statistic)
    assert result.point_biserial_p == pytest.approx(pointbiserialr(y, x).pvalue)
    assert result.verdict.startswith("Higher rougeL goes with thumbs-up: point-biserial r=0.")


def test_correlation_with_scores_and_degenerate_cases() -> None:
    scores = correlation_with_feedback([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], metric="length")
    assert scores.spearman == pytest.approx(-1.0) and scores.point_biserial is None and not scores.binary
    assert "lower ratings" in scores.verdict
    flat = correlation_with_feedback([0.5, 0.5, 0.5], ["up", "down", "up"])
    assert flat.spearman is None and "is the same for all 3 records" in flat.verdict
    with pytest.raises(InvalidInputError, match="at least 3 are needed"):
        correlation_with_feedback([0.1, 0.2, None], ["up", "down", "up"])
    with pytest.raises(InvalidInputError, match=r"feedback\[1\] is 'meh'"):
        correlation_with_feedback([0.1, 0.2, 0.3], ["up", "meh", "down"])
    with pytest.raises(InvalidInputError, match="Got 2 metric values but 3 feedback entries"):
        correlation_with_feedback([0.1, 0.2], ["up", "down", "up"])
