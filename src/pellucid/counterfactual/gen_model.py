"""Generators that ask the model: ``paraphrase`` and ``ablation_flip``.

``paraphrase`` asks the model itself to reword the text (greedy, then seeded samples) and keeps
only the rewrites whose MiniLM embedding stays close to the original (cosine ``>=
min_similarity``): a paraphrase that changed the meaning would make a "flip" meaningless.

``ablation_flip`` looks for the smallest set of the user's words whose removal flips the answer.
Trying every subset is exponential; attribution gives the order instead: the words are ranked
by their occlusion score for the current answer (against the runner-up option when answer
options are given), and the top 1, 2, ..., ``max_words`` are removed cumulatively — all
candidates scored in one batched pass. The first that flips is returned (``meta.flipped``); when
none does, the largest removal is returned with ``flipped=False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pellucid.counterfactual.base import Edit, GenContext, GeneratorSpec
from pellucid.counterfactual.gen_text import _edit
from pellucid.counterfactual.metrics import cosine
from pellucid.counterfactual.words import Change
from pellucid.spec import Param

if TYPE_CHECKING:
    from pellucid.types import Explanation

PARAPHRASE_INSTRUCTION = (
    "Rewrite the following text in different words, keeping exactly the same meaning. "
    "Reply with the rewritten text only.\n\nText: {text}"
)


def _clean(reply: str) -> str:
    """The paraphrase from a reply: first paragraph, without a 'Rewritten text:' lead or quotes."""
    text = reply.strip().split("\n\n")[0].strip()
    for lead in ("rewritten text:", "paraphrase:", "text:"):
        if text.lower().startswith(lead):
            text = text[len(lead) :].strip()
    return text.strip("\"'“”").strip()


def paraphrase(
    text: str,
    ctx: GenContext,
    n: int = 3,
    min_similarity: float = 0.8,
    temperature: float = 0.8,
    max_new_tokens: int = 96,
) -> list[Edit]:
    """Paraphrases by the model itself, kept when their embedding similarity is high enough."""
    lm = ctx.require_lm("paraphrase")
    encoder = ctx.require_encoder("paraphrase")
    instruction = PARAPHRASE_INSTRUCTION.replace("{text}", text)
    candidates: list[str] = []
    for k in range(n):
        gen = lm.generate(
            instruction,
            max_new_tokens=max_new_tokens,
            temperature=0.0 if k == 0 else temperature,
            seed=None if k == 0 else ctx.seed * 1000 + k,
        )
        cand = _clean(gen.text)
        if cand and cand != text and cand not in candidates:
            candidates.append(cand)
    if not candidates:
        return []
    vectors = encoder.embed([text, *candidates])
    edits = []
    for k, cand in enumerate(candidates):
        sim = cosine(vectors[0], vectors[k + 1])
        if sim >= min_similarity:
            change = Change(0, len(text), text, cand, "paraphrase")
            edits.append(Edit(cand, "paraphrase", (change,), f"paraphrase#{k}", {"similarity": round(sim, 4)}))
    rejected = len(candidates) - len(edits)
    return [Edit(e.text, e.generator, e.changes, e.label, {**e.meta, "rejected": rejected}) for e in edits]


def _answer_and_foil(ctx: GenContext, prompt: str) -> tuple[str, str | None, list[list[int]] | None]:
    """The model's answer to ``prompt`` (an option, or its greedy next token) and the runner-up option."""
    from pellucid.counterfactual.batch_score import next_token_argmax, score_options

    lm = ctx.require_lm("ablation_flip")
    ids = lm.encode(prompt, chat=ctx.chat, system=ctx.system).ids
    if ctx.options:
        opt_ids = [lm.encode_target(o) for o in ctx.options]
        scores = score_options(lm, [ids], opt_ids)[0]
        order = list(np.argsort(-scores))
        runner_up = str(ctx.options[order[1]]) if len(order) > 1 else None
        return str(ctx.options[order[0]]), runner_up, opt_ids
    token = next_token_argmax(lm, [ids])[0]
    return lm.tokenizer.decode([token]), None, None


def _answers(ctx: GenContext, prompts: list[str], opt_ids: list[list[int]] | None) -> list[str]:
    from pellucid.counterfactual.batch_score import next_token_argmax, score_options

    lm = ctx.require_lm("ablation_flip")
    ids = [lm.encode(p, chat=ctx.chat, system=ctx.system).ids for p in prompts]
    if opt_ids is not None and ctx.options:
        return [ctx.options[int(i)] for i in score_options(lm, ids, opt_ids).argmax(1)]
    return [lm.tokenizer.decode([t]) for t in next_token_argmax(lm, ids)]


def _word_spans(
    ctx: GenContext, text: str, prompt: str, ex_positions: list[list[int]], features: list[int]
) -> list[tuple[int, int]]:
    """Character spans (in ``text``) of the attributed units that fall inside the ``{text}`` field."""
    lm = ctx.require_lm("ablation_flip")
    enc = lm.encode(prompt, chat=ctx.chat, system=ctx.system)
    base = enc.text.find(prompt) + ctx.prompt_template.find("{text}")
    spans = []
    for u in features:
        a = min(enc.offsets[p][0] for p in ex_positions[u]) - base
        b = max(enc.offsets[p][1] for p in ex_positions[u]) - base
        while a < b and text[a:b][:1].isspace():
            a += 1
        spans.append((a, b) if 0 <= a < b <= len(text) and text[a:b].strip() else (-1, -1))
    return spans


def _removal(text: str, span: tuple[int, int]) -> Change:
    a, b = span
    while a > 0 and text[a - 1] == " ":
        a -= 1
    return Change(a, b, text[a:b], "", "delete")


def _ranked_spans(ctx: GenContext, text: str, prompt: str, ex: Explanation, max_words: int) -> list[tuple[int, int]]:
    """The character spans in ``text`` of the (at most ``max_words``) words with positive
    attribution, most important first (words that map to no span of ``text`` left out)."""
    positions = ex.meta["label_info"]["input"]["positions"]
    attributed = ex.meta["label_info"]["input"]["attributed"]
    features = [u for u, a in enumerate(attributed) if a]
    spans = _word_spans(ctx, text, prompt, positions, features)
    scores = ex.scores[-1, features]
    return [spans[i] for i in np.argsort(-scores, kind="stable") if spans[i][0] >= 0 and scores[i] > 0][:max_words]


def ablation_flip(text: str, ctx: GenContext, max_words: int = 5, method: str = "occlusion") -> list[Edit]:
    """The smallest attribution-ranked set of words whose removal flips the answer."""
    from pellucid.attribution import explain

    lm = ctx.require_lm("ablation_flip")
    prompt = ctx.render(text)
    answer, foil, opt_ids = _answer_and_foil(ctx, prompt)
    ex = explain(
        lm,
        prompt,
        target=answer,
        method=method,
        foil=foil,
        chat=ctx.chat,
        system=ctx.system,
        segments=("user", "prompt"),
    )
    ranked = _ranked_spans(ctx, text, prompt, ex, max_words)
    if not ranked:
        return []
    candidates = []
    for k in range(1, len(ranked) + 1):
        changes = _merge(text, [_removal(text, s) for s in ranked[:k]])
        candidates.append(_edit(text, "ablation_flip", changes, f"remove {k} word(s)"))
    answers = _answers(ctx, [ctx.render(c.text) for c in candidates], opt_ids)
    for k, (cand, new) in enumerate(zip(candidates, answers), 1):
        if new != answer:
            return [
                Edit(
                    cand.text,
                    cand.generator,
                    cand.changes,
                    cand.label,
                    {"flipped": True, "removed": k, "answer": answer, "new_answer": new, "method": method},
                )
            ]
    last = candidates[-1]
    return [
        Edit(
            last.text,
            last.generator,
            last.changes,
            last.label,
            {"flipped": False, "removed": len(ranked), "answer": answer, "new_answer": answers[-1], "method": method},
        )
    ]


def _merge(text: str, changes: list[Change]) -> list[Change]:
    """Deletions whose spans touch or overlap merged into one (so they apply cleanly together)."""
    spans: list[tuple[int, int]] = []
    for ch in sorted(changes, key=lambda c: c.start):
        if spans and ch.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], ch.end))
        else:
            spans.append((ch.start, ch.end))
    return [Change(a, b, text[a:b], "", "delete") for a, b in spans]


SPECS: tuple[GeneratorSpec, ...] = (
    GeneratorSpec(
        "paraphrase",
        "Ask the model itself to paraphrase; keep rewrites whose MiniLM similarity to the original is high enough.",
        paraphrase,
        (
            Param("n", "int", 3, "Paraphrases requested (the first greedy, the rest sampled).", min=1, max=20),
            Param(
                "min_similarity",
                "float",
                0.8,
                "Keep a paraphrase only if its cosine similarity is at least this.",
                min=0.0,
                max=1.0,
            ),
            Param("temperature", "float", 0.8, "Sampling temperature for the 2nd.. paraphrases.", min=0.0),
            Param("max_new_tokens", "int", 96, "Longest paraphrase, in tokens.", min=1),
        ),
        needs=("lm", "encoder"),
        local=False,
    ),
    GeneratorSpec(
        "ablation_flip",
        "Remove the fewest words (ranked by attribution) that flip the answer.",
        ablation_flip,
        (
            Param("max_words", "int", 5, "Most words removed.", min=1, max=50),
            Param("method", "str", "occlusion", "Attribution method that ranks the words."),
        ),
        needs=("lm",),
    ),
)
