"""Length buckets: the activation stream sorts a window of texts by length and packs forwards of
similar lengths. Every real token is still read exactly once, a forward stays within its budget of
padded slots, and a run resumed in the middle of a window sees exactly the same batches."""

from __future__ import annotations

import torch

from pellucid.features.activations import ActivationStream, token_batches
from pellucid.models.tokens import document_start_id
from tests.support.tiny import CORPUS

SITE = "blocks.1.resid_post"
TEXTS = [" ".join(CORPUS[i % len(CORPUS)].split()[: 2 + (7 * i) % 11]) for i in range(40)]


def test_packed_forwards_hold_every_text_once_within_their_budget(tiny_lm) -> None:
    context, per_forward = 12, 2
    lengths = sorted(len(tiny_lm.tokenizer(t)["input_ids"][:context]) for t in TEXTS)
    groups = list(token_batches(tiny_lm, iter(TEXTS), context, per_forward, bucket=4))
    assert sum(n for n, *_ in groups) == len(TEXTS)  # each window counted once, with its last group
    seen: list[int] = []
    for _, ids, attention, _ in groups:
        assert ids.numel() <= per_forward * context  # padded slots within the budget
        seen += attention.sum(dim=1).tolist()
    # within each window of 8 texts, the lengths come out sorted; over all windows, each text once
    assert sorted(seen) == lengths
    plain = list(token_batches(tiny_lm, iter(TEXTS), context, per_forward))
    assert sum(int(a.sum()) for _, _, a, _ in plain) == sum(lengths)
    assert sum(int(ids.numel()) for _, ids, _, _ in groups) < sum(int(ids.numel()) for _, ids, _, _ in plain)


def test_a_stream_resumed_inside_a_window_continues_with_the_same_batches(tiny_lm) -> None:
    options = dict(batch_size=8, buffer_tokens=16, context=12, texts_per_forward=2, bucket=4, seed=3)
    a = ActivationStream(tiny_lm, TEXTS, [SITE], **options)
    for _ in range(40):  # until the stream stops in the middle of a window
        a.next_batch()
        if a.state_dict()["window_groups"]:
            break
    assert a.state_dict()["window_groups"] > 0
    b = ActivationStream(tiny_lm, TEXTS, [SITE], **options)
    b.load_state_dict(a.state_dict())
    for _ in range(12):
        assert torch.equal(a.next_batch()[0], b.next_batch()[0])


def test_every_text_is_read_after_the_document_start_token(tiny_lm) -> None:
    """As dictionaries are trained: each text starts with ``<|endoftext|>`` (the tiny tokenizer adds no
    BOS), the attention sink, so every token of the text itself is kept, the positions a graph reads."""
    start = document_start_id(tiny_lm.tokenizer)
    assert start == tiny_lm.tokenizer.convert_tokens_to_ids("<|endoftext|>") == 0
    context = 12
    expected = sorted(min(len(tiny_lm.tokenizer(t)["input_ids"]), context - 1) for t in TEXTS)
    kept: list[int] = []
    for _, ids, attention, keep in token_batches(tiny_lm, iter(TEXTS), context, 2, bucket=4, document_start=True):
        assert torch.equal(ids[:, 0], torch.full((ids.shape[0],), start))
        assert not bool(keep[:, 0].any())
        assert torch.equal(keep[:, 1:], attention[:, 1:])  # nothing else is dropped but padding
        kept += keep.sum(dim=1).tolist()
    assert sorted(kept) == expected
    plain = [ids for _, ids, _, _ in token_batches(tiny_lm, iter(TEXTS), context, 2, bucket=4)]
    assert not any(bool((ids[:, 0] == start).any()) for ids in plain)  # traffic is read as it is encoded
