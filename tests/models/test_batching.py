"""The continuous-batching engine on the tiny Llama with heavy MLPs (varied greedy tokens).

Every answer is compared token for token with the same request decoded alone (``lm.generate`` or the
thread-per-request ``lm.stream``); the engine is paused at a step boundary by holding the model's
exclusive lease, which is how an explanation would get the model between two steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pellucid.errors import ServerBusyError
from pellucid.models.batching import BatchedStream, BatchEngine
from tests.support.race import mlp_heavy, zero

PROMPTS = [
    "Hello there",
    "The capital of France is a city that",
    "a",
    "Tell me a long story about dragons, knights and a castle by the sea, please",
    "one two three",
]


@pytest.fixture(scope="module")
def heavy(tiny_lm):
    return mlp_heavy(tiny_lm)


@pytest.fixture()
def engine(heavy) -> Iterator[Callable[..., BatchEngine]]:
    made: list[BatchEngine] = []

    def make(**kwargs: int) -> BatchEngine:
        made.append(BatchEngine(heavy, **kwargs))
        return made[-1]

    yield make
    for e in made:
        e.close()


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_greedy_batched_answers_equal_unbatched_ones_for_mixed_lengths(heavy, engine):
    expected = [heavy.generate(chat(p), max_new_tokens=20) for p in PROMPTS]
    assert len({tuple(e.token_ids) for e in expected}) > 1  # the prompts do lead to different answers
    eng = engine(max_batch=3)  # five requests, three slots: two join when the first ones leave
    streams = [eng.stream(chat(p), max_new_tokens=20) for p in PROMPTS]
    texts = ["".join(s) for s in streams]
    for stream, text, want in zip(streams, texts, expected):
        assert stream.token_ids == want.token_ids
        assert text == want.text and stream.finish_reason == want.finish_reason
        assert stream.prompt_tokens == len(heavy.encode(chat(PROMPTS[streams.index(stream)])))


def test_stop_sequences_end_a_row_as_the_unbatched_stream_does(heavy, engine):
    alone = heavy.stream(chat(PROMPTS[1]), max_new_tokens=24)
    full = "".join(alone)
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop.strip() and stop in full
    reference = heavy.stream(chat(PROMPTS[1]), max_new_tokens=24, stop=[stop])
    want = "".join(reference)
    eng = engine(max_batch=4)
    streams = [eng.stream(chat(p), max_new_tokens=24, stop=[stop] if p == PROMPTS[1] else []) for p in PROMPTS[:4]]
    texts = ["".join(s) for s in streams]
    assert texts[1] == want == full[: full.index(stop)] and streams[1].finish_reason == "stop"
    assert streams[1].token_ids == reference.token_ids
    assert texts[0] == heavy.generate(chat(PROMPTS[0]), max_new_tokens=24).text


def test_a_request_joins_a_running_batch_mid_generation(heavy, engine):
    first_want = heavy.generate(chat(PROMPTS[3]), max_new_tokens=40).token_ids
    second_want = heavy.generate(chat(PROMPTS[0]), max_new_tokens=10).token_ids
    eng = engine(max_batch=4)
    first = eng.stream(chat(PROMPTS[3]), max_new_tokens=40)
    wait_for(lambda: eng.stats.generated_tokens >= 5, "the first request's first tokens")
    with heavy.lease(exclusive=True):  # the engine waits at a step boundary
        produced = eng.stats.generated_tokens
        second = eng.stream(chat(PROMPTS[0]), max_new_tokens=10)
        figures = eng.metrics()
    assert 5 <= produced < 40 and figures.running == 1 and figures.queued == 1
    assert "".join(second) is not None and second.token_ids == second_want
    "".join(first)
    assert first.token_ids == first_want and eng.metrics().served == 2


def test_a_cancelled_stream_frees_its_slot_for_the_next_request(heavy, engine):
    eng = engine(max_batch=1, max_queue=1)
    long = eng.stream(chat(PROMPTS[0]), max_new_tokens=150)
    queued = eng.stream(chat(PROMPTS[0]), max_new_tokens=8)
    pieces = iter(long)
    next(pieces)
    assert eng.metrics().queued == 1  # the one slot is taken
    pieces.close()  # what a consumer does when its client goes away
    "".join(queued)
    assert queued.token_ids == heavy.generate(chat(PROMPTS[0]), max_new_tokens=8).token_ids
    assert long.finish_reason == "cancelled" and len(long.token_ids) < 150
    figures = eng.metrics()
    assert figures.cancelled == 1 and figures.served == 1 and figures.ttft_p50_ms is not None


def test_a_full_queue_refuses_at_once_with_a_retry_delay(heavy, engine):
    eng = engine(max_batch=1, max_queue=1)
    with heavy.lease(exclusive=True):
        running = eng.stream(chat(PROMPTS[0]), max_new_tokens=4)
        wait_for(lambda: eng.metrics().queued == 0, "the first request to take the slot")
        waiting = eng.stream(chat(PROMPTS[1]), max_new_tokens=4)
        with pytest.raises(ServerBusyError, match=r"queue holds at most 1.*Retry in \d+ s") as refused:
            eng.stream(chat(PROMPTS[2]), max_new_tokens=4)
        assert refused.value.retry_after >= 1 and eng.metrics().rejected == 1
    assert ["".join(s) for s in (running, waiting)] == [
        heavy.generate(chat(p), max_new_tokens=4).text for p in PROMPTS[:2]
    ]


def test_seeded_sampling_is_the_same_whatever_else_is_batched(heavy, engine):
    params = {"temperature": 0.8, "top_p": 0.9, "seed": 7, "max_new_tokens": 12}
    alone = heavy.generate(chat(PROMPTS[0]), **params)
    eng = engine(max_batch=4)
    crowd = [eng.stream(chat(p), temperature=1.0, seed=i, max_new_tokens=12) for i, p in enumerate(PROMPTS[1:])]
    mine = eng.stream(chat(PROMPTS[0]), **params)
    "".join(mine)
    for s in crowd:
        "".join(s)
    assert mine.token_ids == alone.token_ids


def test_served_tokens_are_unchanged_by_concurrent_hooked_ablations(heavy, engine):
    want = [heavy.generate(chat(p), max_new_tokens=24).token_ids for p in PROMPTS]
    with heavy.hooks({"blocks.0.mlp.out": zero}):
        assert heavy.generate(chat(PROMPTS[0]), max_new_tokens=24).token_ids != want[0]
    stop, ablations = threading.Event(), [0]

    def ablate() -> None:
        while not stop.is_set():
            with heavy.hooks({"blocks.0.mlp.out": zero}):
                heavy.forward(heavy.encode(chat(PROMPTS[2])))
            ablations[0] += 1

    thread = threading.Thread(target=ablate, daemon=True)
    thread.start()
    try:
        eng = engine(max_batch=3)
        for _ in range(2):
            streams = [eng.stream(chat(p), max_new_tokens=24) for p in PROMPTS]
            assert [("".join(s), s.token_ids)[1] for s in streams] == want
    finally:
        stop.set()
        thread.join(30)
    assert ablations[0] > 0


def test_a_stream_is_refused_inside_the_lease_and_the_engine_rejects_bad_sizes(heavy, engine):
    eng = engine(max_batch=2)
    stream = eng.stream(chat(PROMPTS[0]), max_new_tokens=3)
    assert isinstance(stream, BatchedStream)
    with heavy.lease(), pytest.raises(RuntimeError, match="holds the shared lease"):
        next(iter(stream))
    wait_for(lambda: eng.metrics().running == 0 and eng.metrics().queued == 0, "the refused stream to leave")
    assert eng.metrics().cancelled + eng.metrics().served == 1
    with pytest.raises(ValueError, match=r"max_batch=0; it must be at least 1"):
        BatchEngine(heavy, max_batch=0)
    with pytest.raises(ValueError, match=r"max_queue=-1"):
        BatchEngine(heavy, max_queue=-1)
    eng.close()
    with pytest.raises(ServerBusyError, match="shut down"):
        eng.stream(chat(PROMPTS[0]))


@pytest.mark.parametrize("family", ["tiny_gpt2", "tiny_neox"])
def test_other_families_batch_to_their_unbatched_greedy_answers(family, request):
    lm = mlp_heavy(request.getfixturevalue(family))
    eng = BatchEngine(lm, max_batch=2)
    try:
        streams = [eng.stream(p, chat=False, max_new_tokens=12) for p in PROMPTS[:3]]
        for prompt, stream in zip(PROMPTS, streams):
            "".join(stream)
            assert stream.token_ids == lm.generate(prompt, chat=False, max_new_tokens=12).token_ids
    finally:
        eng.close()


def test_a_shared_chat_header_is_computed_once_and_answers_stay_equal(heavy, engine):
    from pellucid.models.batch_prefix import common_prefix

    encoded = [heavy.encode(chat(p)).ids for p in PROMPTS]
    shared = common_prefix(encoded)
    assert shared >= 8  # the chat template's header: worth reusing
    expected = [heavy.generate(chat(p), max_new_tokens=12) for p in PROMPTS]
    eng = engine(max_batch=2)  # two join together (the header is computed), the later ones reuse it
    with eng._cond:  # queue them all before the scheduler looks, so the first two join at once
        streams = [eng.stream(chat(p), max_new_tokens=12) for p in PROMPTS]
    for stream, want in zip(streams, expected):
        "".join(stream)
        assert stream.token_ids == want.token_ids
    assert len(eng._prefixes) == 1 and eng._prefixes.hits >= 1
    (key,) = eng._prefixes._cache
    assert len(key) == min(shared, min(len(e) for e in encoded[:2]) - 1)
