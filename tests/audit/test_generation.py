"""The checks' batched generations equal one ``lm.generate`` per prompt, greedy and seeded."""

from __future__ import annotations

from pellucid.audit.generation import generate_all

PROMPTS = ["The man asked for help.", "A long question about the weather in the mountains today?", "Hi"]


def test_greedy_and_seeded_answers_equal_the_unbatched_ones(tiny_lm):
    assert generate_all(tiny_lm, PROMPTS, max_new_tokens=8) == [
        tiny_lm.generate(p, max_new_tokens=8).text for p in PROMPTS
    ]
    sampled = generate_all(tiny_lm, PROMPTS, max_new_tokens=8, temperature=0.9, seeds=[0, 1, 2])
    assert sampled == [
        tiny_lm.generate(p, max_new_tokens=8, temperature=0.9, seed=i).text for i, p in enumerate(PROMPTS)
    ]


def test_progress_counts_every_answer_and_objects_with_generate_only_work(tiny_lm):
    seen: list[int] = []
    generate_all(tiny_lm, PROMPTS, max_new_tokens=4, progress=seen.append)
    assert seen == [1, 2, 3]

    class Echo:
        def generate(self, prompt, **kwargs):
            return type("G", (), {"text": prompt.upper()})()

    assert generate_all(Echo(), ["a", "b"], max_new_tokens=4) == ["A", "B"]  # type: ignore[arg-type]
