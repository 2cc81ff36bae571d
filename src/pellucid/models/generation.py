"""Generation, the part of :class:`~pellucid.models.lm.LM` that writes text: :meth:`Generator.generate`
(a whole answer, with the model's log-probability of each chosen token) and :meth:`Generator.stream`
(text pieces as tokens arrive, for the gateway; see :mod:`pellucid.models.streaming`).

Both hold the model's shared lease while the model runs, so an explanation's hooks, which take the
exclusive lease, never run inside a generation (see :mod:`pellucid.models.lease`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch

from pellucid.errors import InvalidInputError
from pellucid.models.cancel import CancelChecks
from pellucid.models.lease import Lease
from pellucid.models.tokens import Message
from pellucid.types import Encoding, Generation

if TYPE_CHECKING:
    from pellucid.models.lm import LM
    from pellucid.models.streaming import TokenStream

Prompt = str | Sequence[Message]


def _chosen_tokens(out: Any, prompt_len: int, eos: Collection[int]) -> tuple[list[int], list[float], str]:
    """The generated ids after the prompt, the model's untempered log-probability of each, and why
    generation stopped (``stop``: an end token, which is dropped; ``length``: the budget)."""
    new_ids = [int(i) for i in out.sequences[0, prompt_len:]]
    logprobs = [float(torch.log_softmax(step[0].float(), dim=-1)[tok]) for step, tok in zip(out.logits, new_ids)]
    if new_ids and new_ids[-1] in eos:
        return new_ids[:-1], logprobs[:-1], "stop"
    return new_ids, logprobs, "length"


class Generator:
    """Greedy or sampled generation over the model's chat template (mixed into ``LM``)."""

    model: Any
    tokenizer: Any
    name: str
    context_length: int
    _lease: Lease
    _cancel: CancelChecks
    encode: Callable[..., Encoding]
    check_length: Callable[..., None]
    decode_tokens: Callable[[Sequence[int]], list[str]]
    _tensor: Callable[[Sequence[int]], torch.Tensor]

    def generate(
        self,
        prompt: Prompt,
        *,
        chat: bool | None = None,
        system: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Generation:
        """Generate a continuation: greedy when ``temperature == 0``, else sampled (seeded).

        ``logprobs`` are the model's own (untempered) log-probabilities of the chosen tokens.
        Generation stops at the end-of-turn/end-of-text token, which is not included.
        """
        _check_sampling(max_new_tokens, temperature, top_p)
        enc = self.encode(prompt, chat=chat, system=system)
        self.check_length(len(enc) + max_new_tokens, f"prompt ({len(enc)} tokens) plus max_new_tokens")
        eos = self.stop_token_ids()
        config = self._generation_config(max_new_tokens, temperature, top_p, output_logits=True)
        ids = self._tensor(enc.ids)
        started = time.perf_counter()
        out = self._generate_ids(ids, config, seed)
        new_ids, logprobs, finish = _chosen_tokens(out, ids.shape[1], eos)
        return Generation(
            model=self.name,
            prompt=prompt if isinstance(prompt, str) else enc.text,
            text=self.tokenizer.decode(new_ids, skip_special_tokens=True),
            tokens=self.decode_tokens(new_ids),
            token_ids=new_ids,
            logprobs=logprobs,
            finish_reason=finish,
            params={
                "chat": enc.chat,
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
                "top_p": top_p,
                "seed": seed,
                "seconds": round(time.perf_counter() - started, 4),
            },
        )

    def _generate_ids(self, ids: torch.Tensor, config: Any, seed: int | None) -> Any:
        """One ``model.generate`` call under the shared lease, seeded without touching the global RNG."""
        with self._lease(), torch.random.fork_rng(devices=[]):
            self._cancel.run()
            if seed is not None:
                torch.manual_seed(seed)
            return self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                generation_config=config,
            )

    def stream(
        self,
        prompt: Prompt,
        *,
        chat: bool | None = None,
        system: str | None = None,
        max_new_tokens: int | None = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
        budget_name: str = "max_new_tokens",
    ) -> TokenStream:
        """Generate like :meth:`generate`, yielding text pieces as tokens arrive (see :mod:`.streaming`).

        ``max_new_tokens=None`` generates until the end token or the context window is full.
        ``stop`` strings end the generation and are not included in the text. ``budget_name`` is what the
        caller calls ``max_new_tokens`` in its errors (the OpenAI-compatible gateway: ``max_tokens``). Greedy pieces
        concatenate to ``generate(...).text`` (without ``stop``). Generation starts when
        iteration does; it holds the shared lease from then until it ends, is closed or fails,
        and cannot be iterated by a thread that holds the lease itself (it would wait for it).
        """
        ids, max_new_tokens = self.plan_stream(
            prompt, chat=chat, system=system, max_new_tokens=max_new_tokens,
            temperature=temperature, top_p=top_p, budget_name=budget_name,
        )  # fmt: skip
        from pellucid.models.streaming import TokenStream

        config = self._generation_config(max_new_tokens, temperature, top_p, output_logits=False)
        return TokenStream(cast("LM", self), ids, config, seed=seed, stop=stop)

    def plan_stream(
        self,
        prompt: Prompt,
        *,
        chat: bool | None,
        system: str | None,
        max_new_tokens: int | None,
        temperature: float,
        top_p: float,
        budget_name: str = "max_new_tokens",
    ) -> tuple[list[int], int]:
        """The prompt's token ids and the token budget of a stream, checked (shared with the batching engine).

        ``max_new_tokens=None`` becomes what is left of the context window; a budget that does not fit
        raises :class:`~pellucid.errors.PromptTooLongError` naming ``budget_name``.
        """
        enc = self.encode(prompt, chat=chat, system=system)
        if max_new_tokens is None:
            max_new_tokens = self.context_length - len(enc)
            if max_new_tokens < 1:
                self.check_length(len(enc) + 1, f"prompt ({len(enc)} tokens) plus one new token")
        _check_sampling(max_new_tokens, temperature, top_p)
        self.check_length(len(enc) + max_new_tokens, f"prompt ({len(enc)} tokens) plus {budget_name}={max_new_tokens}")
        return list(enc.ids), max_new_tokens

    def _generation_config(self, max_new_tokens: int, temperature: float, top_p: float, *, output_logits: bool) -> Any:
        from transformers import GenerationConfig

        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=top_p if temperature > 0 else None,
            top_k=None,
            eos_token_id=self.stop_token_ids() or None,
            pad_token_id=self.tokenizer.pad_token_id,
            output_logits=output_logits,
            return_dict_in_generate=output_logits,
        )

    def stop_token_ids(self) -> list[int]:
        """End-of-sequence ids from the generation config and the tokenizer."""
        found: list[int] = []
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            for tok in value if isinstance(value, list) else [value]:
                if tok is not None and int(tok) not in found:
                    found.append(int(tok))
        return found

    # -- hooks -------------------------------------------------------------------------


def _check_sampling(max_new_tokens: int, temperature: float, top_p: float) -> None:
    if max_new_tokens < 1:
        raise InvalidInputError(f"max_new_tokens={max_new_tokens}; it must be at least 1.")
    if temperature < 0:
        raise InvalidInputError(f"temperature={temperature}; it must be 0 (greedy) or positive.")
    if not 0 < top_p <= 1:
        raise InvalidInputError(f"top_p={top_p}; it must be in (0, 1].")
