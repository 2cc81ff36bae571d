"""The enrichment worker: MiniLM embeddings, teacher-forced perplexity and entropy, flag counts."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from pellucid.monitor import Store
from pellucid.monitor.enrich import MARKER
from pellucid.service import ModelPool
from pellucid.service.enrichment import Enricher, response_stats
from tests.monitor.conftest import at

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture()
def logged(store: Store, make):
    rows = [
        make(
            prompt=MESSAGES,
            response="The capital of France is Paris.",
            model="tiny",
            flags={"a": "x", "b": "y"},
            created_at=at("2026-11-01 00:00"),
        ),
        make(prompt="Is this review positive?", response="yes", model="tiny", created_at=at("2026-11-01 00:01")),
        make(prompt="Hello there", response=None, error="timeout", model="tiny", created_at=at("2026-11-01 00:02")),
        make(prompt="Hi", response="Hello!", model="gpt-unknown", created_at=at("2026-11-01 00:03")),
    ]
    store.repo.insert_records(rows)
    return rows


def test_response_stats_match_lm_score(tiny_lm) -> None:
    stats = response_stats(tiny_lm, MESSAGES, "The capital of France is Paris.")
    scored = tiny_lm.score(MESSAGES, "The capital of France is Paris.")
    assert stats.n_tokens == len(scored.logprobs)
    assert stats.perplexity == pytest.approx(math.exp(-np.mean(scored.logprobs)), rel=1e-5)
    # entropy by hand from the full distributions
    enc = tiny_lm.encode(MESSAGES)
    target = tiny_lm.encode_target("The capital of France is Paris.")
    with torch.no_grad():
        logits = tiny_lm.forward(torch.tensor([enc.ids + target])).logits[0, len(enc.ids) - 1 : -1]
    p = torch.softmax(logits.float(), -1)
    assert stats.mean_entropy == pytest.approx(float(-(p * p.log()).sum(-1).mean()), rel=1e-4)
    assert 0 < stats.mean_entropy <= math.log(tiny_lm.vocab_size) + 1e-6


def test_enrich_writes_embeddings_and_metrics(store: Store, logged, tiny_lm, minilm, settings) -> None:
    pool = ModelPool(settings)
    pool.add(tiny_lm, name="tiny")
    enricher = Enricher(store, pool=pool, encoder=minilm, batch_size=3)
    assert enricher.pending() == 4
    stats = enricher.run_once()
    assert (stats.records, stats.lm_scored, stats.lm_skipped) == (4, 2, 1)
    assert stats.embeddings == 4 + 3  # every prompt, and the three responses
    assert enricher.pending() == 0 and enricher.run_once().records == 0

    ids, prompts = store.repo.get_embeddings("prompt", model=minilm.name)
    texts = [r.prompt_text for r in logged]
    np.testing.assert_allclose(prompts, minilm.embed(texts), atol=1e-5)
    _, responses = store.repo.get_embeddings("response", model=minilm.name)
    np.testing.assert_allclose(responses, minilm.embed([logged[0].response, "yes", "Hello!"]), atol=1e-5)

    first = store.repo.get_record(logged[0].id).metrics
    expected = response_stats(tiny_lm, MESSAGES, logged[0].response)
    assert first["perplexity"] == pytest.approx(expected.perplexity, rel=1e-5)
    assert first["mean_entropy"] == pytest.approx(expected.mean_entropy, rel=1e-5)
    assert first["flag_count"] == 2.0 and first[MARKER] == 1.0
    assert first["response_tokens"] == expected.n_tokens
    failed = store.repo.get_record(logged[2].id).metrics
    assert failed["perplexity"] is None and failed["flag_count"] == 0.0
    unknown = store.repo.get_record(logged[3].id).metrics  # its model cannot be loaded: no model metrics
    assert unknown["perplexity"] is None and unknown[MARKER] == 1.0


def test_limit_and_background_thread(store: Store, logged, tiny_lm, minilm) -> None:
    enricher = Enricher(store, lm=tiny_lm, encoder=minilm, batch_size=2, interval=0.05)
    progress = []
    assert enricher.run_once(limit=1, progress=lambda d, t: progress.append((d, t))).records == 1
    assert progress == [(1, 1)] and enricher.pending() == 3
    enricher.start()
    try:
        deadline = time.monotonic() + 60
        while enricher.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        enricher.stop()
    assert enricher.pending() == 0 and not enricher.running
    # with lm= every record is scored by that model, whatever its logged name
    assert store.repo.get_record(logged[3].id).metrics["perplexity"] > 1


def test_enrich_without_models(store: Store, logged) -> None:
    stats = Enricher(store, embeddings=False, lm_metrics=False).run_once()
    assert stats.records == 4 and stats.embeddings == 0 and stats.lm_scored == 0
    assert store.repo.get_record(logged[0].id).metrics["flag_count"] == 2.0


def test_enrich_adds_the_audit_checks_flags(store: Store, make) -> None:
    rude = make(prompt="Mail me at jane.doe@example.com or +1 415 555 0100", response="You are an idiot.")
    polite = make(prompt="Hello there", response="Hello! How can I help?")
    store.repo.insert_records([rude, polite])
    Enricher(store, embeddings=False, lm_metrics=False).run_once()
    rude_metrics, polite_metrics = (store.repo.get_record(r.id).metrics for r in (rude, polite))
    assert rude_metrics["pii_count"] == 2.0 and polite_metrics["pii_count"] == 0.0
    assert rude_metrics["toxicity"] >= 0.5 > polite_metrics["toxicity"]  # the lexicon flags "idiot"
    assert Enricher(store, audit_flags=False).audit_flags is False


def test_prompts_and_responses_are_flagged_separately(store: Store, make) -> None:
    rude_question = make(prompt="Answer me, you stupid idiot.", response="Of course, how can I help?")
    leaky_answer = make(prompt="What is Jane's email?", response="It is jane.doe@example.com, phone +1 415 555 0100.")
    polite = make(prompt="Hello there", response="Hello! How can I help?")
    store.repo.insert_records([rude_question, leaky_answer, polite])
    Enricher(store, embeddings=False, lm_metrics=False).run_once()
    rude, leaky, fine = (store.repo.get_record(r.id) for r in (rude_question, leaky_answer, polite))
    assert rude.metrics["prompt_toxicity"] >= 0.5 > rude.metrics["toxicity"]
    assert set(rude.flags) == {"toxic_prompt"} and "prompt toxicity" in rude.flags["toxic_prompt"]
    assert (leaky.metrics["prompt_pii_count"], leaky.metrics["response_pii_count"], leaky.metrics["pii_count"]) == (
        0.0,
        2.0,
        2.0,
    )
    assert set(leaky.flags) == {"pii_in_response"} and leaky.metrics["flag_count"] == 1.0
    assert fine.flags == {} and fine.metrics["flag_count"] == 0.0
    # the new flags filter the records table like the data-quality ones
    from pellucid.monitor.records import RecordFilter

    assert [r.id for r in store.repo.list_records(RecordFilter(flag="toxic_prompt")).items] == [rude.id]


class _BrokenLM:
    name = "broken"

    def encode(self, *args, **kwargs):
        raise RuntimeError("tokenizer exploded")


def test_a_failing_model_does_not_wedge_the_queue(store: Store, logged) -> None:
    stats = Enricher(store, lm=_BrokenLM(), embeddings=False, batch_size=1).run_once()  # type: ignore[arg-type]
    assert (stats.records, stats.lm_scored, stats.lm_skipped) == (4, 0, 3)
    assert store.analytics.count_missing(MARKER) == 0


def test_proxied_calls_are_scored_with_their_mapped_weights(store: Store, make, tiny_lm, settings, caplog) -> None:
    proxy = {"upstream": "remote", "url": "http://127.0.0.1:9/v1", "model": "llama"}
    mapped = make(prompt=MESSAGES, response="Paris.", model="remote", metadata={"gateway": {"proxy": proxy}})
    other = {**proxy, "upstream": "elsewhere"}
    unmapped = make(prompt=MESSAGES, response="Paris.", model="elsewhere", metadata={"gateway": {"proxy": other}})
    store.repo.insert_records([mapped, unmapped])
    pool = ModelPool(settings.with_overrides(local_weights=("remote=tiny",)))
    pool.add(tiny_lm, name="tiny")
    with caplog.at_level("WARNING"):
        stats = Enricher(store, pool=pool, embeddings=False, audit_flags=False).run_once()
    assert (stats.lm_scored, stats.lm_skipped) == (1, 1)
    expected = response_stats(tiny_lm, MESSAGES, "Paris.")
    assert store.repo.get_record(mapped.id).metrics["perplexity"] == pytest.approx(expected.perplexity, rel=1e-5)
    assert store.repo.get_record(unmapped.id).metrics["perplexity"] is None
    assert "'elsewhere' is not mapped to local weights" in caplog.text
    assert "PELLUCID_LOCAL_WEIGHTS=elsewhere=PATH_OR_BUNDLED_NAME" in caplog.text
