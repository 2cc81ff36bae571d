"""Which token goes before raw text: the one the model saw between documents in training."""

from __future__ import annotations

from typing import Any

from pellucid.models.tokens import document_start_id


class _Tokenizer:
    """The four things :func:`document_start_id` reads, for tokenizers of other families."""

    def __init__(self, vocab: dict[str, int], special: list[str], adds: str | None, bos: str | None, eos: str | None):
        self.vocab, self.adds = vocab, adds
        self.all_special_ids = [vocab[s] for s in special]
        self.bos_token_id = vocab[bos] if bos else None
        self.eos_token_id = vocab[eos] if eos else None
        self.unk = vocab.get("<unk>")

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, Any]:
        ids = [self.vocab["a"]]
        return {"input_ids": ([self.vocab[self.adds]] if self.adds and add_special_tokens else []) + ids}

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self.vocab.get(token, self.unk)

    def convert_ids_to_tokens(self, index: int) -> str:
        return {v: k for k, v in self.vocab.items()}[index]


def test_a_tokenizer_that_adds_its_own_bos_needs_nothing() -> None:
    llama = _Tokenizer({"<unk>": 0, "<s>": 1, "</s>": 2, "a": 3}, ["<unk>", "<s>", "</s>"], "<s>", "<s>", "</s>")
    assert document_start_id(llama) is None


def test_the_document_separator_comes_before_bos_and_eos() -> None:
    smol = _Tokenizer(
        {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "a": 3},
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_start|>", "<|im_end|>",
    )  # fmt: skip
    assert document_start_id(smol) == 0


def test_the_unknown_token_never_stands_in_for_a_missing_separator() -> None:
    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2, "a": 3}
    other = _Tokenizer(vocab, ["<unk>", "<bos>", "<eos>"], None, "<bos>", "<eos>")
    assert document_start_id(other) == 1  # its BOS, not <unk> (what the separator's lookup returns)
    no_bos = _Tokenizer({"<unk>": 0, "<eos>": 2, "a": 3}, ["<unk>", "<eos>"], None, None, "<eos>")
    assert document_start_id(no_bos) == 2
    bare = _Tokenizer({"<unk>": 0, "a": 3}, ["<unk>"], None, None, None)
    assert document_start_id(bare) is None


def test_the_bundled_tokenizer_family_gets_its_separator(tiny_lm) -> None:
    assert tiny_lm.tokenizer.convert_ids_to_tokens(document_start_id(tiny_lm.tokenizer)) == "<|endoftext|>"
