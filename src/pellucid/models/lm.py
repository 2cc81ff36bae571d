"""``LM``: one causal language model with its tokenizer, and the verbs every analysis uses.

The rest of Pellucid never touches Hugging Face internals directly: it calls
:meth:`LM.encode` to tokenize (with offsets, words and chat segments), :meth:`LM.score`
for teacher-forced log-probabilities, :meth:`LM.generate`, :meth:`LM.forward` for raw
logits, and :meth:`LM.hooks` / :meth:`LM.run_with_cache` to read or edit activations at
named sites (see :mod:`pellucid.models.architectures`).

**One owner.** The torch model is shared by every thread (the gateway answering calls, the
workbench inspecting), so every entry point takes the model's :class:`~pellucid.models.lease.Lease`
itself: *shared* for plain forward passes, scoring, generation and prefix caches; *exclusive* for
whatever changes what a forward pass computes — :meth:`LM.hooks` (and so :meth:`LM.run_with_cache`),
:meth:`LM.blocks_from`, :meth:`LM.replace_outputs`. A thread inside an exclusive block runs its own
forward passes reentrantly; other threads wait. Code outside ``models/`` that calls modules
directly wraps the calls in :meth:`LM.lease`. :meth:`LM.cancel_check` stops this thread's forward
passes once a check raises (see :mod:`pellucid.models.cancel`).

Shapes in docstrings: ``B`` batch, ``L`` sequence length, ``T`` target length, ``V`` vocab,
``D`` model width.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from pellucid.errors import InvalidInputError, PromptTooLongError
from pellucid.models import fast_linear
from pellucid.models import hooks as _hooks
from pellucid.models.architectures import ArchSpec, require_arch
from pellucid.models.generation import Generator
from pellucid.models.kv import PrefixCache, cache_keyword
from pellucid.models.loading import ModelSource, load_weights, resolve
from pellucid.models.ownership import ModelOwner
from pellucid.models.tokens import Message, encode
from pellucid.settings import Settings
from pellucid.types import Encoding, TokenScores

Prompt = str | Sequence[Message]


@dataclass(frozen=True)
class ModelInfo:
    """What ``pellucid models`` shows about a model."""

    name: str
    kind: str
    architecture: str
    layers: int
    heads: int
    d_model: int
    context_length: int
    vocab_size: int
    parameters: int | None = None


class LM(ModelOwner, Generator):
    """A loaded causal LM. Build one with :meth:`LM.load` (or ``pellucid.load_model``).

    Wrap each torch model in one ``LM`` only: the lease and the cancellation hooks belong to it.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        name: str,
        source: ModelSource | None = None,
        *,
        fast_kernels: bool | str = "auto",
    ) -> None:
        # Pellucid reads models, it never trains them: frozen weights mean gradient methods
        # compute input and activation gradients only, and never leave .grad on a parameter.
        model.requires_grad_(False)
        fast_linear.accelerate(model, fast_kernels)
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        config = model.config
        self.model_type: str = config.model_type
        spec = require_arch(self.model_type)
        self.arch: ArchSpec = spec
        self._cache_keyword = cache_keyword(model)
        self._prefix = next((p for p in spec.prefixes if _has_module(model, f"{p}{spec.blocks}")), spec.prefixes[0])
        self.n_layers: int = int(getattr(config, "num_hidden_layers", None) or config.n_layer)
        self.n_heads: int = int(getattr(config, "num_attention_heads", None) or config.n_head)
        self.d_model: int = int(getattr(config, "hidden_size", None) or config.n_embd)
        self.vocab_size: int = int(config.vocab_size)
        max_positions: Any = getattr(config, "max_position_embeddings", None)  # untyped config value, or None
        self.context_length: int = int(max_positions or getattr(config, "n_positions", 2048))
        self._own()  # the lease and the cancellation hooks, before any other thread can see the model

    # -- construction ------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        name_or_path: str,
        settings: Settings | None = None,
        *,
        dtype: str = "float32",
        attn_implementation: str = "eager",
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        revision: str | None = None,
    ) -> LM:
        """Load a bundled model by name, a local folder, a ``.gguf`` file or a hub id.

        ``attn_implementation="eager"`` (the default) makes attention weights available to
        hooks; ``"sdpa"`` is faster for plain generation but hides them.
        """
        settings = settings or Settings.from_env()
        if settings.threads:
            torch.set_num_threads(settings.threads)
        source = resolve(name_or_path, settings.models_dir)
        model, tokenizer = load_weights(
            source,
            dtype=dtype,
            attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
            revision=revision,
            offline=settings.offline,
        )
        model.to(settings.device)
        return cls(model, tokenizer, source.name, source, fast_kernels=settings.fast_kernels)

    # -- facts -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        device: torch.device = next(self.model.parameters()).device
        return device

    @property
    def is_chat(self) -> bool:
        """Whether the tokenizer has a chat template (prompts are then chat by default)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    @cached_property
    def version(self) -> str:
        """A short fingerprint of what answers: the model's configuration and where it was loaded from.

        Equal for the same weights loaded the same way; it changes when the source (path, GGUF
        file, hub revision) or the architecture's configuration changes. Weights are not hashed
        (too slow for large models): two checkpoints of one config at one path share it.
        """
        config = self.model.config.to_dict()
        config.pop("transformers_version", None)
        identity = {
            "config": config,
            "source": None if self.source is None else [self.source.kind, self.source.location],
            "revision": getattr(self.model.config, "_commit_hash", None),
        }
        return "cfg-" + _short_hash(json.dumps(identity, sort_keys=True, default=str))

    @property
    def template_version(self) -> str | None:
        """A short hash of the tokenizer's chat template (``None`` without one): which prompt format was used."""
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            return None
        text = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
        return "tpl-" + _short_hash(text)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            kind="causal_lm",
            architecture=self.model_type,
            layers=self.n_layers,
            heads=self.n_heads,
            d_model=self.d_model,
            context_length=self.context_length,
            vocab_size=self.vocab_size,
            parameters=sum(p.numel() for p in self.model.parameters()),
        )

    def __repr__(self) -> str:
        return f"LM({self.name!r}, {self.model_type}, layers={self.n_layers}, heads={self.n_heads})"

    # -- tokenization ------------------------------------------------------------------
    def encode(
        self,
        prompt: Prompt,
        *,
        chat: bool | None = None,
        system: str | None = None,
        add_generation_prompt: bool = True,
    ) -> Encoding:
        """Tokenize a prompt, keeping offsets, words and segments.

        ``chat=None`` applies the chat template when the model has one; ``chat=False`` encodes
        the text as is.
        """
        chat = self.is_chat if chat is None else chat
        return encode(self.tokenizer, prompt, chat=chat, system=system, add_generation_prompt=add_generation_prompt)

    def encode_target(self, target: str) -> list[int]:
        """Token ids of a continuation (no special tokens added)."""
        if not isinstance(target, str) or target == "":
            raise InvalidInputError("The target is empty; give the text whose probability you want, e.g. ' Paris'.")
        ids = [int(i) for i in self.tokenizer(target, add_special_tokens=False)["input_ids"]]
        if not ids:
            raise InvalidInputError(f"The target {target!r} tokenizes to no tokens; give visible text.")
        return ids

    def decode_tokens(self, ids: Sequence[int]) -> list[str]:
        """Each id as the text it adds when decoded after the previous ones."""
        pieces: list[str] = []
        previous = ""
        for i in range(len(ids)):
            text = self.tokenizer.decode(list(ids[: i + 1]))
            pieces.append(text[len(previous) :] if text.startswith(previous) else self.tokenizer.decode([ids[i]]))
            previous = text
        return pieces

    def check_length(self, n_tokens: int, what: str = "prompt") -> None:
        if n_tokens > self.context_length:
            raise PromptTooLongError(
                f"The {what} is {n_tokens} tokens but {self.name} has a context window of "
                f"{self.context_length} tokens; shorten it."
            )

    # -- forward passes ----------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor | Prompt | Encoding | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Any = None,
        logits_to_keep: int | torch.Tensor = 0,
        use_cache: bool = False,
    ) -> Any:
        """Run the model; returns the Hugging Face output (``.logits``: ``[B, L', V]``).

        ``input_ids`` is a ``[B, L]`` tensor of token ids, or what :meth:`run_with_cache` takes: a text or
        chat messages (encoded with the chat template when the model has one) or an :class:`Encoding`.

        ``logits_to_keep=k`` projects only the last ``k`` positions to the vocabulary. For a batch
        it is passed as the positions' indices, so the kept hidden states are gathered into one
        contiguous block: a plain slice of a batch is strided, and the unembedding then runs as
        a batched product over ``B`` broadcast copies of the ``[D, V]`` matrix — several times
        slower than one matrix product (about 150 ms per pass on SmolLM2-135M).
        """
        if input_ids is not None and not isinstance(input_ids, torch.Tensor):
            input_ids = self._as_ids(input_ids, None, None)  # text, chat messages or an Encoding, like run_with_cache
        kwargs: dict[str, Any] = {"use_cache": use_cache}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        if cache is not None:
            kwargs[self._cache_keyword] = cache
        if isinstance(logits_to_keep, int) and logits_to_keep > 0:
            inputs = inputs_embeds if inputs_embeds is not None else input_ids
            if inputs is not None and inputs.shape[0] > 1 and logits_to_keep < inputs.shape[1]:
                length = inputs.shape[1]
                logits_to_keep = torch.arange(length - logits_to_keep, length, device=inputs.device)
        if isinstance(logits_to_keep, torch.Tensor) or logits_to_keep:
            kwargs["logits_to_keep"] = logits_to_keep
        with self._lease():
            self._cancel.run()
            if inputs_embeds is not None:
                return self.model(inputs_embeds=inputs_embeds, **kwargs)
            return self.model(input_ids=input_ids, **kwargs)

    def prefix_cache(self, ids: torch.Tensor) -> PrefixCache:
        """Run ``ids`` (``[1, m]``) once and keep its keys and values (see :mod:`.kv`)."""
        with torch.no_grad():
            out = self.forward(ids, use_cache=True, logits_to_keep=1)
        return PrefixCache.from_output(out, int(ids.shape[1]))

    def embedding_matrix(self) -> torch.Tensor:
        """The input embedding weights ``[V, D]``."""
        weight: torch.Tensor = self.model.get_input_embeddings().weight
        return weight

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of ``ids`` (``[B, L] -> [B, L, D]``) as the model computes them."""
        with self._lease():
            embedded: torch.Tensor = self.model.get_input_embeddings()(ids)
            return embedded

    def _tensor(self, ids: Sequence[int]) -> torch.Tensor:
        return torch.tensor([list(ids)], dtype=torch.long, device=self.device)

    @torch.no_grad()
    def score(
        self,
        prompt: Prompt,
        target: str,
        *,
        chat: bool | None = None,
        system: str | None = None,
    ) -> TokenScores:
        """Log-probability of each target token given the prompt (teacher forcing, one pass).

        The model sees ``prompt + target[:-1]`` and only the ``T`` positions that predict the
        target are projected to the vocabulary.
        """
        enc = self.encode(prompt, chat=chat, system=system)
        target_ids = self.encode_target(target)
        self.check_length(len(enc) + len(target_ids), "prompt plus target")
        ids = self._tensor(enc.ids + target_ids[:-1])
        logits = self.forward(ids, logits_to_keep=len(target_ids)).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        chosen = logprobs[torch.arange(len(target_ids)), torch.tensor(target_ids)]
        return TokenScores(
            model=self.name,
            prompt=prompt if isinstance(prompt, str) else enc.text,
            target=target,
            tokens=self.decode_tokens(target_ids),
            token_ids=target_ids,
            logprobs=[float(x) for x in chosen],
        )

    @torch.no_grad()
    def site_names(self) -> list[str]:
        """Every valid site name (``embed``, ``blocks.{i}.resid_post``, ...)."""
        return _hooks.site_names(self.n_layers, self.arch.unembed is not None)

    def site(self, name: str) -> _hooks.Site:
        return _hooks.resolve_site(name, self.model, self.arch, self._prefix, self.n_layers, self.n_heads)

    @contextmanager
    def hooks(
        self, hooks: Mapping[str, _hooks.HookFn | list[_hooks.HookFn]] | list[tuple[str, _hooks.HookFn]]
    ) -> Iterator[None]:
        """Attach hooks ``{site: fn(tensor, site) -> tensor | None}`` for the ``with`` block.

        The block holds the exclusive lease: other threads' forward passes wait until it ends, this
        thread's run (reentrantly) with the hooks. Every hook is removed when the block ends,
        whether it ends normally or by an exception.
        """
        spec = _hooks.normalize_hook_spec(hooks)
        with self._lease(exclusive=True):  # sites resolve inside: the block list may be cut outside it
            with _hooks.attach([(self.site(name), fn) for name, fn in spec]):
                yield

    def run_with_cache(
        self,
        prompt: Prompt | Encoding | torch.Tensor,
        sites: Sequence[str],
        *,
        chat: bool | None = None,
        system: str | None = None,
        grad: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run once and return ``(logits [B, L, V], {site: activation})`` for the requested sites only.

        ``prompt`` may be text/messages, an :class:`Encoding` or a ``[B, L]`` tensor of ids.
        Activations keep their batch dimension and are detached unless ``grad=True``.
        """
        if isinstance(sites, str):
            sites = [sites]
        if not sites:
            raise InvalidInputError(f"No sites requested; choose from: {', '.join(self.site_names()[:8])}, ...")
        ids = self._as_ids(prompt, chat=chat, system=system)
        cache: dict[str, torch.Tensor] = {}

        def keep(value: torch.Tensor, site: str) -> None:
            cache[site] = value if grad else value.detach()

        with self.hooks([(name, keep) for name in dict.fromkeys(sites)]):
            with torch.set_grad_enabled(grad):
                logits = self.forward(ids).logits
        return logits, cache

    def _as_ids(self, prompt: Prompt | Encoding | torch.Tensor, chat: bool | None, system: str | None) -> torch.Tensor:
        if isinstance(prompt, torch.Tensor):
            ids = prompt if prompt.dim() == 2 else prompt.unsqueeze(0)
            return ids.to(self.device)
        enc = prompt if isinstance(prompt, Encoding) else self.encode(prompt, chat=chat, system=system)
        self.check_length(len(enc))
        return self._tensor(enc.ids)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _has_module(model: Any, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True
