"""Reference-based evaluation metrics: how close is each response to what it should have been?

Every metric returns a :class:`MetricResult`: one value per example and one aggregate.

- **BLEU** (``bleu``, 0–100, ``sacrebleu``): the share of the response's word 1- to 4-grams
  that appear in a reference (geometric mean of the four precisions), times a brevity penalty
  for responses shorter than the reference. The aggregate is *corpus* BLEU — n-gram counts are
  pooled over all examples before the ratio is taken, exactly as ``sacrebleu.corpus_bleu``
  does — which is not the mean of the per-example (smoothed, "effective order") values.
- **chrF** (``chrf``, 0–100, ``sacrebleu``): an F-score over character n-grams (1–6), kinder to
  morphology and small spelling differences than BLEU; corpus-level aggregate as in sacrebleu.
- **ROUGE** (``rouge1``, ``rouge2``, ``rougeL``; ``rouge`` means all three; 0–1, ``rouge-score``):
  F-measure of unigram / bigram overlap, and of the longest common subsequence (word order
  matters, gaps allowed). Porter stemming is on; the default tokenizer keeps only ASCII
  letters and digits, so it is meant for English text.
- **Exact match** (``exact_match``, 0 or 1): equal after normalisation (Unicode NFKC,
  lower case, punctuation and the articles a/an/the removed, whitespace collapsed).
- **Semantic similarity** (``semantic_similarity``, −1–1): cosine between sentence
  embeddings of response and reference. Pass ``embed``, any function from a list of texts to a
  ``[n, dim]`` array (the bundled MiniLM encoder, for instance); nothing here loads a model.
- **Perplexity** (``perplexity``, ≥ 1, lower is better): ``exp(−mean log p(token))`` over each
  response's tokens, from log-probabilities the serving model already gave; 1 means the model
  was certain of every token. ``details["corpus_perplexity"]`` pools all tokens instead.

With several references per example (a list of strings), BLEU and chrF use them all the way
sacrebleu does; the other metrics keep the best-matching reference.

Aggregates: corpus-level for BLEU and chrF, the mean over examples for the others.
Custom metrics and the link with human feedback live in :mod:`.metrics_custom`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pellucid.errors import unknown_name
from pellucid.monitor.metrics_base import (
    ROUGE_TYPES,
    EmbedFn,
    Metric,
    MetricInputError,
    MetricInputs,
    MetricResult,
    References,
    check_logprobs,
    check_predictions,
    check_references,
    require_input,
)
from pellucid.monitor.metrics_custom import (
    FeedbackCorrelation,
    correlation_with_feedback,
    entry_point_metric,
    load_metric,
    wrap_metric,
)

__all__ = [
    "METRICS",
    "METRIC_GROUPS",
    "ROUGE_TYPES",
    "EmbedFn",
    "FeedbackCorrelation",
    "Metric",
    "MetricInputError",
    "MetricInputs",
    "MetricResult",
    "bleu",
    "chrf",
    "compute_metrics",
    "correlation_with_feedback",
    "exact_match",
    "expand_metric_names",
    "get_metric",
    "load_metric",
    "normalize_text",
    "perplexity",
    "rouge",
    "semantic_similarity",
    "wrap_metric",
]

# -- sacrebleu: BLEU and chrF ---------------------------------------------------------------


def _reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-example reference lists to sacrebleu's streams (``None`` pads variable counts)."""
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def _sacrebleu_metric(name: str, metric: Any, sentence_metric: Any, inputs: MetricInputs) -> MetricResult:
    references = require_input(inputs, "references", name)
    preds = inputs.predictions
    values = tuple(
        float(sentence_metric.sentence_score(p, refs).score) for p, refs in zip(preds, references, strict=True)
    )
    corpus = metric.corpus_score(preds, _reference_streams(references))
    details: dict[str, Any] = {"scale": "0-100", "signature": str(metric.get_signature()), "corpus": str(corpus)}
    if hasattr(corpus, "bp"):
        details.update(brevity_penalty=float(corpus.bp), precisions=[float(p) for p in corpus.precisions])
    return MetricResult(name=name, values=values, aggregate=float(corpus.score), aggregation="corpus", details=details)


def bleu(predictions: Sequence[str], references: References) -> MetricResult:
    """Per-example sentence BLEU (effective order) and corpus BLEU, both by sacrebleu (0–100)."""
    from sacrebleu.metrics import BLEU

    preds = check_predictions(predictions)
    inputs = MetricInputs(preds, check_references(references, len(preds)))
    return _sacrebleu_metric("bleu", BLEU(), BLEU(effective_order=True), inputs)


def chrf(predictions: Sequence[str], references: References, *, word_order: int = 0) -> MetricResult:
    """Per-example and corpus chrF by sacrebleu (0–100); ``word_order=2`` gives chrF++."""
    from sacrebleu.metrics import CHRF

    preds = check_predictions(predictions)
    inputs = MetricInputs(preds, check_references(references, len(preds)))
    return _sacrebleu_metric("chrf", CHRF(word_order=word_order), CHRF(word_order=word_order), inputs)


# -- rouge-score ----------------------------------------------------------------------------


def rouge(
    predictions: Sequence[str],
    references: References,
    *,
    types: Sequence[str] = ROUGE_TYPES,
    use_stemmer: bool = True,
) -> dict[str, MetricResult]:
    """ROUGE F-measures by ``rouge_score.RougeScorer`` (best reference per example), mean aggregate."""
    from rouge_score.rouge_scorer import RougeScorer

    for rouge_type in types:
        if rouge_type not in ROUGE_TYPES:
            raise unknown_name("ROUGE type", rouge_type, ROUGE_TYPES)
    preds = check_predictions(predictions)
    refs = check_references(references, len(preds))
    scorer = RougeScorer(list(types), use_stemmer=use_stemmer)
    scores = [scorer.score_multi(r, p) for p, r in zip(preds, refs, strict=True)]
    details = {"scale": "0-1", "measure": "fmeasure", "use_stemmer": use_stemmer, "library": "rouge-score"}
    results = {}
    for rouge_type in types:
        values = tuple(float(s[rouge_type].fmeasure) for s in scores)
        results[rouge_type] = MetricResult(rouge_type, values, float(np.mean(values)), details=dict(details))
    return results


# -- exact match, semantic similarity, perplexity -------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_text(text: str) -> str:
    """NFKC, lower case, punctuation and English articles removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCTUATION or unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(predictions: Sequence[str], references: References, *, normalize: bool = True) -> MetricResult:
    """1.0 when the prediction equals a reference (after :func:`normalize_text`), else 0.0."""
    preds = check_predictions(predictions)
    refs = check_references(references, len(preds))
    prep: Callable[[str], str] = normalize_text if normalize else (lambda s: s)
    values = tuple(float(any(prep(p) == prep(r) for r in rs)) for p, rs in zip(preds, refs, strict=True))
    return MetricResult("exact_match", values, float(np.mean(values)), details={"normalized": normalize})


def _embed_checked(embed: EmbedFn, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(embed(texts), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise MetricInputError(
            f"embed returned shape {vectors.shape} for {len(texts)} texts; it must return one row per text [n, dim]."
        )
    if not np.isfinite(vectors).all():
        raise MetricInputError("embed returned NaN or infinite values; check the embedding model.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        index = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise MetricInputError(f"embed returned a zero vector for {texts[index]!r}; cosine similarity is undefined.")
    return vectors / norms


def semantic_similarity(predictions: Sequence[str], references: References, *, embed: EmbedFn) -> MetricResult:
    """Cosine similarity of normalised embeddings, best reference per example, mean aggregate."""
    preds = check_predictions(predictions)
    refs = check_references(references, len(preds))
    flat = [r for rs in refs for r in rs]
    vectors = _embed_checked(embed, preds + flat)
    pred_vecs, ref_vecs = vectors[: len(preds)], vectors[len(preds) :]
    values, start = [], 0
    for i, rs in enumerate(refs):
        sims = ref_vecs[start : start + len(rs)] @ pred_vecs[i]
        values.append(float(np.max(sims)))
        start += len(rs)
    return MetricResult(
        "semantic_similarity", tuple(values), float(np.mean(values)), details={"scale": "-1-1", "measure": "cosine"}
    )


def perplexity(token_logprobs: Sequence[Sequence[float]]) -> MetricResult:
    """``exp(−mean log p)`` per example from natural-log token probabilities; mean aggregate."""
    rows = check_logprobs(token_logprobs)
    values = tuple(float(np.exp(-row.mean())) for row in rows)
    n_tokens = int(sum(row.size for row in rows))
    corpus = float(np.exp(-np.concatenate(rows).mean()))
    details = {"corpus_perplexity": corpus, "n_tokens": n_tokens, "log_base": "e"}
    return MetricResult("perplexity", values, float(np.mean(values)), higher_is_better=False, details=details)


# -- registry -------------------------------------------------------------------------------


def _refs_metric(fn: Callable[..., MetricResult]) -> Callable[[MetricInputs], MetricResult]:
    return lambda inputs: fn(inputs.predictions, require_input(inputs, "references", fn.__name__))


def _rouge_metric(rouge_type: str) -> Callable[[MetricInputs], MetricResult]:
    def compute(inputs: MetricInputs) -> MetricResult:
        refs = require_input(inputs, "references", rouge_type)
        return rouge(inputs.predictions, refs, types=(rouge_type,))[rouge_type]

    return compute


def _similarity_metric(inputs: MetricInputs) -> MetricResult:
    refs = require_input(inputs, "references", "semantic_similarity")
    return semantic_similarity(inputs.predictions, refs, embed=require_input(inputs, "embed", "semantic_similarity"))


def _perplexity_metric(inputs: MetricInputs) -> MetricResult:
    rows = require_input(inputs, "token_logprobs", "perplexity")
    if len(rows) != len(inputs.predictions):
        raise MetricInputError(f"Got {len(inputs.predictions)} predictions but {len(rows)} token_logprobs rows.")
    return perplexity(rows)


#: Every built-in metric by name.
METRICS: dict[str, Metric] = {
    "bleu": Metric("bleu", _refs_metric(bleu), "corpus BLEU (sacrebleu), 0-100"),
    "chrf": Metric("chrf", _refs_metric(chrf), "corpus chrF (sacrebleu), 0-100"),
    "rouge1": Metric("rouge1", _rouge_metric("rouge1"), "ROUGE-1 F-measure (rouge-score), 0-1"),
    "rouge2": Metric("rouge2", _rouge_metric("rouge2"), "ROUGE-2 F-measure (rouge-score), 0-1"),
    "rougeL": Metric("rougeL", _rouge_metric("rougeL"), "ROUGE-L F-measure (rouge-score), 0-1"),
    "exact_match": Metric("exact_match", _refs_metric(exact_match), "normalised exact match, 0 or 1"),
    "semantic_similarity": Metric(
        "semantic_similarity", _similarity_metric, "embedding cosine similarity", needs=("references", "embed")
    ),
    "perplexity": Metric(
        "perplexity", _perplexity_metric, "exp(-mean token log-prob)", needs=("token_logprobs",), higher_is_better=False
    ),
}
#: Names that stand for several metrics.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {"rouge": ROUGE_TYPES}


def get_metric(name: str) -> Metric:
    """A built-in metric by name, or a custom one by ``"module:function"`` / entry-point name."""
    if name in METRICS:
        return METRICS[name]
    if ":" in name:
        return load_metric(name)
    found = entry_point_metric(name)
    if found is None:
        raise unknown_name(
            "metric", name, [*METRICS, *METRIC_GROUPS], hint="Custom metrics: 'package.module:function'."
        )
    return found


def expand_metric_names(names: str | Sequence[str]) -> list[str]:
    """``"bleu,rouge"`` → ``["bleu", "rouge1", "rouge2", "rougeL"]`` (groups expanded, order kept)."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n).strip() for n in names]
    out: list[str] = []
    for name in filter(None, items):
        for member in METRIC_GROUPS.get(name, (name,)):
            if member not in out:
                out.append(member)
    if not out:
        raise MetricInputError(f"No metric names given; choose from {', '.join([*METRICS, *METRIC_GROUPS])}.")
    return out


def compute_metrics(
    names: str | Sequence[str],
    predictions: Sequence[str],
    references: References | None = None,
    *,
    embed: EmbedFn | None = None,
    token_logprobs: Sequence[Sequence[float]] | None = None,
    custom: Mapping[str, Metric] | None = None,
) -> dict[str, MetricResult]:
    """Compute several metrics at once, e.g. ``compute_metrics("bleu,chrf,rouge", preds, refs)``.

    ``custom`` adds metrics by name (see :func:`pellucid.monitor.metrics_custom.load_metric`);
    names of the form ``"module:function"`` are loaded on the fly.
    """
    preds = check_predictions(predictions)
    refs = None if references is None else check_references(references, len(preds))
    rows = None if token_logprobs is None else check_logprobs(token_logprobs)
    inputs = MetricInputs(preds, refs, embed, rows)
    wanted = expand_metric_names(names)
    metrics = [custom[n] if custom and n in custom else get_metric(n) for n in wanted]
    for metric in metrics:
        for need in metric.needs:
            require_input(inputs, need, metric.name)
    results: dict[str, MetricResult] = {}
    rouge_wanted = tuple(m.name for m in metrics if m.name in ROUGE_TYPES and METRICS.get(m.name) is m)
    if rouge_wanted:
        results.update(rouge(preds, refs or [], types=rouge_wanted))
    for metric in metrics:
        if metric.name not in results:
            results[metric.name] = metric.compute(inputs)
    return {m.name: results[m.name] for m in metrics}
