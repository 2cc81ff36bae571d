"""Tiny models built by the tests themselves: random-initialised, a few layers, no download.

``build_tokenizer`` trains a byte-level BPE on a small corpus (milliseconds, deterministic)
and gives it a ChatML template with a default system prompt, like SmolLM2's. ``save_tiny``
writes a model + tokenizer folder that ``LM.load`` reads like any Hugging Face folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "What is the capital of France? The capital of France is Paris.",
    "The Eiffel Tower is located in the city of Paris.",
    "The movie was awful and boring. The movie was excellent and fun.",
    "She said he would come tomorrow, but they did not.",
    "Is this review positive or negative? Answer yes or no.",
    "You are a helpful assistant. Hello there, how are you today?",
    "the quick brown fox jumps over the lazy dog 0123456789 !?.,;:'\"()-",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(family: str, vocab_size: int, seed: int = 0):
    """A random-initialised tiny model of a family in the architecture table."""
    import transformers as tf

    torch.manual_seed(seed)
    if family == "llama":
        config = tf.LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
        )
        return tf.LlamaForCausalLM(config)
    if family == "gpt2":
        config = tf.GPT2Config(
            vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=128, bos_token_id=1, eos_token_id=2
        )
        return tf.GPT2LMHeadModel(config)
    if family == "gpt_neox":
        config = tf.GPTNeoXConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=128,
            bos_token_id=1,
            eos_token_id=2,
        )
        return tf.GPTNeoXForCausalLM(config)
    raise ValueError(f"unknown tiny family {family!r}")


def save_tiny(folder: Path, family: str = "llama", chat: bool = True, seed: int = 0) -> Path:
    """Write a tiny model + tokenizer folder and return it."""
    tokenizer = build_tokenizer(chat=chat)
    model = build_model(family, len(tokenizer), seed=seed)
    model.config._attn_implementation = "eager"
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
