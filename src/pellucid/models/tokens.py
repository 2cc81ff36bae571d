"""Tokenization that keeps character offsets, word grouping and chat segments.

Attribution methods must know which tokens the *user* wrote and which the chat template
added (``<|im_start|>``, role names, the default system prompt...): perturbing template
tokens produces explanations dominated by markup. :func:`encode` renders the chat template
to text, finds each message's content in it, tokenizes the whole text once with offsets, and
labels every token with its segment (``system``, ``user``, ``assistant`` or ``template``)
and the word it belongs to.

A default system prompt that the template inserts by itself (SmolLM2 does) is found by
rendering the template a second time with a sentinel system message and diffing the texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pellucid.errors import InvalidInputError
from pellucid.types import Encoding

_WORD = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")
_SENTINEL = "\u2063pellucid-system-sentinel\u2063"

Message = dict[str, str]


def normalize_messages(prompt: str | Sequence[Message], system: str | None = None) -> list[Message]:
    """A prompt as chat messages: a string becomes one user message, after ``system``."""
    if isinstance(prompt, str):
        messages: list[Message] = [{"role": "user", "content": prompt}]
    else:
        messages = []
        for i, m in enumerate(prompt):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise InvalidInputError(f"Message {i} is {m!r}; each message must be a dict with 'role' and 'content'.")
            messages.append({"role": str(m["role"]), "content": str(m["content"])})
    if system is not None:
        if messages and messages[0]["role"] == "system":
            raise InvalidInputError("Both system=... and a system message were given; pass only one.")
        messages.insert(0, {"role": "system", "content": system})
    if not any(m["content"].strip() for m in messages if m["role"] != "system"):
        raise InvalidInputError("The prompt is empty; give some text to send to the model.")
    return messages


def render_chat(tokenizer: Any, messages: list[Message], add_generation_prompt: bool = True) -> str:
    """The chat template applied to ``messages``, as text."""
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt))


def _find_spans(text: str, messages: list[Message]) -> list[tuple[int, int, str]]:
    """Character span of each message's content inside the rendered ``text``."""
    spans: list[tuple[int, int, str]] = []
    cursor = 0
    for m in messages:
        content = m["content"]
        for candidate in (content, content.strip()):
            if not candidate:
                break
            start = text.find(candidate, cursor)
            if start >= 0:
                spans.append((start, start + len(candidate), m["role"]))
                cursor = start + len(candidate)
                break
    return spans


def _default_system_span(tokenizer: Any, messages: list[Message], text: str) -> tuple[int, int] | None:
    """Span of a system prompt the template inserts when none is given (found by diffing)."""
    if any(m["role"] == "system" for m in messages):
        return None
    try:
        with_sentinel = render_chat(tokenizer, [{"role": "system", "content": _SENTINEL}, *messages])
    except Exception:  # templates that reject a system role insert none either
        return None
    if _SENTINEL not in with_sentinel:
        return None
    prefix = with_sentinel.index(_SENTINEL)
    suffix = len(with_sentinel) - prefix - len(_SENTINEL)
    if (
        text[:prefix] != with_sentinel[:prefix]
        or text[len(text) - suffix :] != with_sentinel[prefix + len(_SENTINEL) :]
    ):
        return None
    start, end = prefix, len(text) - suffix
    return (start, end) if end > start else None


def encode_text(
    tokenizer: Any,
    text: str,
    spans: list[tuple[int, int, str]],
    *,
    add_special_tokens: bool,
    chat: bool,
) -> Encoding:
    """Tokenize ``text`` once and label tokens by the segment spans they fall in."""
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError(
            f"Tokenizer {type(tokenizer).__name__} is not a fast tokenizer, so token offsets are unavailable; "
            "load the model with a tokenizer.json (fast tokenizer)."
        )
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = [int(i) for i in enc["input_ids"]]
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    special = set(getattr(tokenizer, "all_special_ids", []))

    segments: list[str] = []
    for tok_id, (a, b) in zip(ids, offsets):
        segment = "template"
        if tok_id not in special:
            for start, end, role in spans:
                if a < end and b > start or (a == b and start <= a < end):
                    segment = role
                    break
        segments.append(segment)

    word_spans: list[tuple[int, int]] = []
    for start, end, _role in spans:
        word_spans.extend((start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end]))
    word_spans.sort()
    words = _assign_words(offsets, segments, word_spans)
    tokens = [text[a:b] if b > a else tokenizer.decode([i]) for i, (a, b) in zip(ids, offsets)]
    return Encoding(
        text=text,
        ids=ids,
        tokens=tokens,
        offsets=offsets,
        segments=segments,
        words=words,
        word_spans=word_spans,
        chat=chat,
    )


def _assign_words(offsets: list[tuple[int, int]], segments: list[str], word_spans: list[tuple[int, int]]) -> list[int]:
    """Word index per token: the first word it overlaps; whitespace tokens join the next word."""
    words = [-1] * len(offsets)
    for t, (a, b) in enumerate(offsets):
        if segments[t] == "template":
            continue
        for w, (ws, we) in enumerate(word_spans):
            if a < we and b > ws:
                words[t] = w
                break
    # tokens in a segment that overlap no word (pure whitespace) join a neighbour in that segment
    for t in range(len(words)):
        if words[t] == -1 and segments[t] != "template":
            neighbours = [u for u in range(t + 1, len(words))] + [u for u in range(t - 1, -1, -1)]
            for u in neighbours:
                if segments[u] != segments[t]:
                    continue
                if words[u] != -1:
                    words[t] = words[u]
                    break
    return words


def document_start_id(tokenizer: Any) -> int | None:
    """The token to put before raw text that starts without one, as the model saw documents in training.

    Decoder models are trained on documents joined by a separator, so their first position is
    normally that token: it becomes the attention sink, and the text's own first token is read
    like any other. Tokenizers that add a BOS themselves (Llama) need nothing: ``None``. Others
    get the vocabulary's ``<|endoftext|>`` (the separator of GPT-2, GPT-NeoX, SmolLM and Qwen
    corpora) when it is a special token, else their BOS, else their EOS; ``None`` without any.
    """
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    if probe and probe[0] in special:
        return None
    separator = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    if separator in special and tokenizer.convert_ids_to_tokens(separator) == "<|endoftext|>":
        return int(separator)  # not the unknown token standing in for a missing one
    for candidate in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return None


def encode(
    tokenizer: Any,
    prompt: str | Sequence[Message],
    *,
    chat: bool,
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> Encoding:
    """Encode a prompt, as a chat (template applied) or as raw text.

    Raw prompts get the tokenizer's own special tokens (e.g. BOS, labelled ``template``);
    chat prompts are tokenized from the rendered template without adding any more.
    """
    if not chat:
        if not isinstance(prompt, str):
            raise InvalidInputError("A raw (non-chat) prompt must be a string, not a list of messages.")
        if system is not None:
            raise InvalidInputError("system=... needs a chat prompt; drop --raw or the system message.")
        if not prompt.strip():
            raise InvalidInputError("The prompt is empty; give some text to send to the model.")
        return encode_text(tokenizer, prompt, [(0, len(prompt), "user")], add_special_tokens=True, chat=False)

    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInputError(
            "This model's tokenizer has no chat template; pass the prompt as raw text (--raw / chat=False)."
        )
    messages = normalize_messages(prompt, system)
    text = render_chat(tokenizer, messages, add_generation_prompt=add_generation_prompt)
    spans = _find_spans(text, messages)
    default_system = _default_system_span(tokenizer, messages, text)
    if default_system is not None:
        spans.append((*default_system, "system"))
    return encode_text(tokenizer, text, spans, add_special_tokens=False, chat=True)
