"""Groundedness: is every sentence of an answer supported by the context it was given (RAG)?

For each (context, question, answer) triple the answer is split into sentences and each gets a
**support score** in [0, 1], the smaller of two signals:

- **semantic support** — the highest cosine similarity between the sentence and any context
  sentence, with the bundled MiniLM encoder (lexical token overlap when no encoder is given);
- **fact overlap** — the share of the sentence's *checkable facts* found in the context:
  numbers (``14:35``, ``2,400``, ``3.5``), identifiers (``BA2490``, ``ZQX-4821``: letters and
  digits together) and named entities (capitalised words that do not start the sentence).
  This catches the classic RAG failure a similarity score misses: "Your flight is **BA2941**"
  is semantically close to a context saying "BA2490", but the number is wrong.

A sentence is *unsupported* when its support is below ``min_support`` or any of its numbers or
identifiers is missing from the context; each unsupported claim is reported with its character
span in the answer and the facts that were not found.

**Self-consistency** (optional, needs the model): the model answers the question from the
context ``samples`` times at temperature > 0; an answer whose facts the samples rarely repeat is
likely made up (SelfCheckGPT's idea). Reported per triple as the mean similarity of the answer to
the samples and the share of its facts that the samples repeat.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pellucid.audit.result import CheckResult
from pellucid.audit.stats import rate, rate_evidence
from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

Progress = Callable[[int, int], None]
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+(?=\s|$)|$)|[^.!?\n]*[.!?]+", re.MULTILINE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:/]\d+)*(?![\w])")
_IDENT = re.compile(r"\b(?=[A-Za-z-]*\d)(?=[\d-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b")
_ENTITY = re.compile(r"(?<=[\w,;:]\s)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_WORD = re.compile(r"\w+")
_STOP = frozenset("the a an of to in on at for is are was were be and or it its this that with by from as".split())


@dataclass(frozen=True)
class Triple:
    context: str
    question: str
    answer: str | None
    id: str = ""


def sentences(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, sentence)`` spans of ``text`` (split after . ! ? and at line breaks)."""
    out = []
    for m in _SENTENCE.finditer(text):
        raw = m.group()
        stripped = raw.strip()
        if len(_WORD.findall(stripped)) == 0:
            continue
        start = m.start() + raw.index(stripped)
        out.append((start, start + len(stripped), stripped))
    return out


def facts(sentence: str) -> dict[str, list[str]]:
    """The checkable facts of a sentence: numbers, identifiers and named entities."""
    idents = _IDENT.findall(sentence)
    numbers = [n for n in _NUMBER.findall(sentence) if not any(n in i for i in idents)]
    return {"numbers": numbers, "identifiers": idents, "entities": _ENTITY.findall(sentence)}


def _present(fact: str, context: str) -> bool:
    norm = lambda s: re.sub(r"[\s,]", "", s.lower())  # noqa: E731  "2,400" == "2400"
    return norm(fact) in norm(context)


def _lexical(a: str, b: str) -> float:
    wa = {w.lower() for w in _WORD.findall(a)} - _STOP
    wb = {w.lower() for w in _WORD.findall(b)} - _STOP
    return len(wa & wb) / len(wa) if wa else 1.0


def _similarities(answer_sents: list[str], context_sents: list[str], encoder: Encoder | None) -> np.ndarray:
    """``[len(answer_sents)]``: best similarity of each answer sentence to any context sentence."""
    if not context_sents:
        return np.zeros(len(answer_sents))
    if encoder is None:
        return np.array([max(_lexical(a, c) for c in context_sents) for a in answer_sents])
    emb = encoder.embed(answer_sents + context_sents)
    a, c = emb[: len(answer_sents)], emb[len(answer_sents) :]
    return np.clip((a @ c.T).max(axis=1), 0.0, 1.0)


def check_triple(t: Triple, encoder: Encoder | None = None, min_support: float = 0.5) -> dict[str, Any]:
    """Per-sentence support of one answer; see the module docstring."""
    if t.answer is None:
        raise InvalidInputError(f"Triple {t.id or t.question!r} has no answer to check.")
    spans = sentences(t.answer)
    ctx_sents = [s for _, _, s in sentences(t.context)]
    sims = _similarities([s for _, _, s in spans], ctx_sents, encoder)
    rows = []
    for (start, end, sent), sim in zip(spans, sims):
        f = facts(sent)
        missing = {k: [x for x in v if not _present(x, t.context)] for k, v in f.items()}
        n_facts = sum(len(v) for v in f.values())
        overlap = 1.0 - sum(len(v) for v in missing.values()) / n_facts if n_facts else 1.0
        support = float(min(sim, overlap))
        hard_miss = bool(missing["numbers"] or missing["identifiers"])
        rows.append(
            {
                "start": start,
                "end": end,
                "sentence": sent,
                "similarity": round(float(sim), 4),
                "fact_overlap": round(overlap, 4),
                "support": round(support, 4),
                "missing": {k: v for k, v in missing.items() if v},
                "supported": support >= min_support and not hard_miss,
            }
        )
    return {"id": t.id, "question": t.question, "answer": t.answer, "sentences": rows}


def load_triples(path: str | Path, limit: int | None = None) -> list[Triple]:
    """Triples from a ``.jsonl``/``.json`` file with ``context``, ``question`` and ``answer`` keys."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(
            f"Groundedness data {str(p)!r} does not exist; give a .jsonl of context/question/answer."
        )
    text = p.read_text(encoding="utf-8")
    try:
        rows = (
            json.loads(text) if p.suffix.lower() == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
        )
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{p.name} is not valid JSON ({exc}).") from None
    out = []
    for i, row in enumerate(rows, 1):
        missing = [k for k in ("context",) if not isinstance(row, dict) or k not in row]
        if missing:
            keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
            raise InvalidInputError(
                f"{p.name}: row {i} lacks {', '.join(missing)} (it has: {keys}); "
                "each row needs context, question and answer (generated by the model when absent)."
            )
        answer = row.get("answer")
        out.append(
            Triple(
                str(row["context"]),
                str(row.get("question", "")),
                None if answer is None else str(answer),
                str(row.get("id", i)),
            )
        )
    return out[:limit] if limit else out


def rag_prompt(t: Triple) -> str:
    """The prompt the model answers from: the context, then the question."""
    return f"Context: {t.context}\n\nQuestion: {t.question}\nAnswer in one or two sentences using only the context."


def self_consistency(
    lm: LM,
    t: Triple,
    samples: int = 3,
    encoder: Encoder | None = None,
    temperature: float = 0.8,
    max_new_tokens: int = 48,
) -> dict[str, Any]:
    """How well ``samples`` sampled answers of the model agree with the given answer."""
    prompt = rag_prompt(t)
    from pellucid.audit.generation import generate_all

    outs = generate_all(
        lm, [prompt] * samples, temperature=temperature, seeds=range(samples), max_new_tokens=max_new_tokens
    )
    answer = t.answer or ""
    ans_facts = [x for v in facts(answer).values() for x in v]
    repeated = [sum(_present(f, o) for o in outs) / samples for f in ans_facts]
    if encoder is not None:
        emb = encoder.embed([answer, *outs])
        sim = float(np.mean(emb[1:] @ emb[0]))
    else:
        sim = float(np.mean([_lexical(answer, o) for o in outs]))
    return {"samples": outs, "mean_similarity": sim, "fact_consistency": float(np.mean(repeated)) if repeated else None}


def _refuse_missing_inputs(items: list[Triple], lm: LM | None, samples: int) -> None:
    """Refuse an empty set, and sampling or unanswered triples without a model to do it."""
    if not items:
        raise InvalidInputError("No (context, question, answer) triples given.")
    if samples and lm is None:
        raise InvalidInputError("Self-consistency (samples > 0) needs a model: pass lm=...")
    if any(t.answer is None for t in items) and lm is None:
        raise InvalidInputError("Some triples have no answer; pass a model (lm=...) to answer them from the context.")


def _check_all(
    items: list[Triple],
    encoder: Encoder | None,
    lm: LM | None,
    samples: int,
    min_support: float,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Check every triple, answering it with ``lm`` first when it has no answer (and sampling when asked)."""
    from pellucid.audit.generation import generate_all

    unanswered = [t for t in items if t.answer is None]
    answers = iter(generate_all(lm, [rag_prompt(t) for t in unanswered], max_new_tokens=48) if unanswered else [])  # type: ignore[arg-type]
    results = []
    for i, t in enumerate(items):
        if t.answer is None:
            t = Triple(t.context, t.question, next(answers), t.id)
        r = check_triple(t, encoder, min_support)
        if samples:
            r["self_consistency"] = self_consistency(lm, t, samples, encoder)  # type: ignore[arg-type]
        results.append(r)
        if progress is not None:
            progress(i + 1, len(items))
    return results


def _unsupported_findings(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers with at least one unsupported sentence, with those sentences (and their self-consistency)."""
    return [
        {
            "id": r["id"],
            "question": r["question"],
            "answer": r["answer"],
            "unsupported": [s for s in r["sentences"] if not s["supported"]],
            **({"self_consistency": r["self_consistency"]} if "self_consistency" in r else {}),
        }
        for r in results
        if any(not s["supported"] for s in r["sentences"])
    ]


def _consistency_means(results: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean fact consistency (over answers that state facts) and mean similarity of the sampled answers."""
    fc = [
        r["self_consistency"]["fact_consistency"]
        for r in results
        if r["self_consistency"]["fact_consistency"] is not None
    ]
    return {
        "mean_fact_consistency": float(np.mean(fc)) if fc else None,
        "mean_sample_similarity": float(np.mean([r["self_consistency"]["mean_similarity"] for r in results])),
    }


def groundedness(
    triples: str | Path | Sequence[Triple],
    *,
    encoder: Encoder | None = None,
    lm: LM | None = None,
    samples: int = 0,
    min_support: float = 0.5,
    threshold: float = 0.1,
    limit: int | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Share of answer sentences not supported by their context (``passed`` when ≤ ``threshold``)."""
    started = time.perf_counter()
    items = load_triples(triples, limit) if isinstance(triples, (str, Path)) else list(triples)[:limit]
    _refuse_missing_inputs(items, lm, samples)
    results = _check_all(items, encoder, lm, samples, min_support, progress)
    all_sents = [s for r in results for s in r["sentences"]]
    unsupported = rate(sum(1 for s in all_sents if not s["supported"]), len(all_sents))
    findings = _unsupported_findings(results)
    metrics: dict[str, Any] = {
        "triples": len(items),
        "sentences": len(all_sents),
        "unsupported_rate": unsupported,
        "answers_with_unsupported_claims": rate(len(findings), len(items)),
        "mean_support": float(np.mean([s["support"] for s in all_sents])) if all_sents else None,
        "similarity": "MiniLM cosine" if encoder is not None else "lexical overlap (no encoder)",
        "per_triple": [{"id": r["id"], "sentences": r["sentences"]} for r in results],
    }
    if samples:
        metrics.update(_consistency_means(results))
    score = float(unsupported["rate"] or 0.0)
    return CheckResult(
        check="groundedness",
        passed=score <= threshold,
        **rate_evidence(unsupported, threshold),
        score=score,
        threshold=threshold,
        findings=findings[:20],
        metrics=metrics,
        description="Share of answer sentences not supported by the given context.",
        limits=[
            "Support is similarity plus exact fact overlap, not entailment: a sentence that reuses the context's "
            "words and facts but negates them is counted as supported.",
            *([] if encoder is not None else ["No sentence encoder: similarity is lexical overlap."]),
        ],
        params={"min_support": min_support, "samples": samples},
        model=lm.name if lm is not None else "",
        seconds=time.perf_counter() - started,
    )
