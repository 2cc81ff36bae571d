"""Activations of one or two sites streamed from the model over a corpus, shuffled in a bounded buffer.

Training a dictionary needs many activation vectors in random order, but never all at once. The
stream reads texts a window at a time, sorted by length and packed into forwards of similar
lengths (:func:`token_batches`: a forward is mostly real tokens, not padding), runs the model only
up to the deepest site it needs (:func:`pellucid.inspect._common.run_until`, which holds the
model's lease through ``lm.hooks``), keeps the real tokens' vectors (no padding, no special
tokens, not the first position: BOS or the attention sink), and pours them into a pool of at most
``buffer_tokens`` rows. When the pool is full it is shuffled and half of it is handed out as
batches while the other half waits to be mixed with the next texts (SAELens' scheme): memory
stays ``buffer_tokens × width``, and neighbouring tokens of one text rarely share a batch.

For a transcoder the stream reads two sites in the same forward (``mlp.in`` and ``mlp.out``) and
keeps their rows aligned. :meth:`ActivationStream.state_dict` captures where the stream is (texts
read, the pool, the random generator) so a resumed training run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError
from pellucid.features.corpus import Corpus, iter_texts
from pellucid.inspect import _common as c
from pellucid.models.tokens import document_start_id

if TYPE_CHECKING:
    from pellucid.models.lm import LM

#: site suffixes a dictionary can read, all ``[B, L, width]``
DICTIONARY_SITES = ("resid_pre", "resid_post", "attn.out", "mlp.out", "mlp.in", "mlp.post")


def site_width(lm: LM, site: str) -> int:
    """The width of ``site``'s vectors, after checking that the site exists and suits a dictionary."""
    lm.site(site)  # an unknown site raises with the list of valid names
    suffix = site.split(".", 2)[2] if site.startswith("blocks.") else site
    if suffix in ("embed", "final_norm") or suffix in DICTIONARY_SITES[:5]:
        return lm.d_model
    if suffix == "mlp.post":
        return int(getattr(lm.model.config, "intermediate_size", None) or 4 * lm.d_model)
    raise InvalidInputError(
        f"Site {site!r} cannot carry a dictionary; use blocks.L.<suffix> with a suffix among "
        f"{', '.join(DICTIONARY_SITES)}."
    )


Batch = tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]


def token_batches(
    lm: LM,
    texts: Iterator[str],
    context: int,
    texts_per_forward: int,
    *,
    bucket: int = 1,
    skip_groups: int = 0,
    document_start: bool = False,
) -> Iterator[Batch]:
    """``(n_texts_read, ids [B, L], attention [B, L], keep [B, L])`` for groups of texts.

    Texts are cut to ``context`` tokens and right-padded; ``attention`` marks every token of a
    text, ``keep`` the ones whose activations count: not padding, not special tokens, and not a
    text's first position, which decoder models use as an attention sink with activations orders
    of magnitude larger than the rest. With ``document_start`` (how dictionaries are trained and
    evaluated) each text starts with the token the model saw before documents in training
    (:func:`~pellucid.models.tokens.document_start_id`: the tokenizer's own BOS, or the separator
    put there here), so that token is the sink and every token of the text itself is read, as in
    an attribution graph's prompt; without it (how logged traffic is read, like a prompt given to
    the token view) a text is read as the tokenizer encodes it.

    With ``bucket=1`` each group is the next ``texts_per_forward`` texts, in order. With
    ``bucket > 1`` the stream reads ``bucket × texts_per_forward`` texts at a time, sorts them by
    length and packs them into forwards of about ``texts_per_forward × context`` token slots, so a
    forward is mostly real tokens (short texts share one forward; padding shrinks to the spread
    within a group). The window's text count is reported with its last group (0 with the others),
    so a reader that counts texts has counted a window only once all of it is read;
    ``skip_groups`` skips that many groups of the first window (resuming in the middle of one).
    """
    tokenizer = lm.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    first = document_start_id(tokenizer) if document_start else None
    start = [] if first is None else [first]
    while True:
        window = list(islice(texts, texts_per_forward * max(1, bucket)))
        if not window:
            return
        rows = [(start + tokenizer(t, add_special_tokens=True)["input_ids"])[:context] for t in window]
        rows = [r for r in rows if len(r) > len(start)]
        groups = _pack(rows, texts_per_forward, context) if bucket > 1 else [rows]
        for index, group in enumerate(groups[skip_groups:], start=skip_groups):
            read = len(window) if index == len(groups) - 1 else 0
            yield (read, *_padded(group, pad, special))
        if skip_groups >= len(groups):  # a resumed window read to its end already: count it
            yield len(window), *_padded([], pad, special)
        skip_groups = 0


def _pack(rows: list[list[int]], texts_per_forward: int, context: int) -> list[list[list[int]]]:
    """``rows`` sorted by length (stably) and cut into groups of at most ``texts_per_forward × context``
    padded slots; always at least one group (an empty one when there are no rows)."""
    budget = texts_per_forward * context
    groups: list[list[list[int]]] = [[]]
    for row in sorted(rows, key=len):
        if groups[-1] and (len(groups[-1]) + 1) * len(row) > budget:
            groups.append([])
        groups[-1].append(row)
    return groups


def _padded(rows: list[list[int]], pad: int, special: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``ids``, ``attention`` and ``keep`` of ``rows`` (see :func:`token_batches`)."""
    if not rows:
        empty = torch.zeros(0, 0, dtype=torch.bool)
        return empty.long(), empty, empty
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    keep = mask & ~torch.isin(ids, special)
    keep[:, 0] = False  # the document start (or, in a model without one, the first token): the attention sink
    return ids, mask, keep


def read_sites(
    lm: LM, ids: torch.Tensor, attention: torch.Tensor, keep: torch.Tensor, sites: Sequence[str]
) -> list[torch.Tensor]:
    """One forward (stopped after the deepest site): each site's kept rows, ``[n_kept, width]`` float32."""
    cache = c.run_until(lm, ids.to(lm.device), sites, attention_mask=attention.long().to(lm.device))
    mask = keep.to(lm.device)
    return [cache[s][mask].float().cpu() for s in sites]


class ActivationStream:
    """Batches of shuffled activation rows of ``sites`` over ``corpus`` (see the module docstring).

    ``next_batch()`` returns one ``[batch_size, width]`` tensor per site. With ``cycle=True`` the
    corpus restarts when it ends (counted in :attr:`epoch`); otherwise the last batch may be
    smaller and then ``None`` is returned. Each site must be a full name (``blocks.6.resid_post``).
    """

    def __init__(
        self,
        lm: LM,
        corpus: Corpus,
        sites: Sequence[str],
        *,
        batch_size: int = 4096,
        buffer_tokens: int = 65536,
        context: int = 128,
        texts_per_forward: int = 16,
        bucket: int = 16,
        seed: int = 0,
        cycle: bool = True,
        shuffle: bool = True,
        text_field: str | None = None,
        document_start: bool = True,
    ) -> None:
        if batch_size < 1 or buffer_tokens < 2 * batch_size:
            raise InvalidInputError(
                f"batch_size={batch_size}, buffer_tokens={buffer_tokens}: the buffer must hold at least two "
                "batches (buffer_tokens ≥ 2 × batch_size) and batches at least one token."
            )
        self.lm, self.corpus, self.sites = lm, corpus, list(sites)
        self.widths = [site_width(lm, s) for s in self.sites]
        self.batch_size, self.buffer_tokens, self.context = batch_size, buffer_tokens, context
        self.texts_per_forward, self.cycle, self.shuffle, self.text_field = (
            texts_per_forward,
            cycle,
            shuffle,
            text_field,
        )
        self.bucket = bucket
        self.document_start = document_start  # as dictionaries are trained (see token_batches)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.cursor, self.tokens_read, self._epoch_start = 0, 0, 0, 0
        self._window_groups = 0  # groups of the current window already read (texts are counted per window)
        width = sum(self.widths)
        self._pool = torch.zeros(0, width)
        self._ready = torch.zeros(0, width)
        self._batches: Iterator[Batch] | None = None
        self._exhausted = False

    # -- reading ------------------------------------------------------------------------
    def _open(self) -> Iterator[Batch]:
        texts = iter_texts(self.corpus, self.text_field)
        return token_batches(
            self.lm,
            islice(texts, self.cursor, None),
            self.context,
            self.texts_per_forward,
            bucket=self.bucket,
            skip_groups=self._window_groups,
            document_start=self.document_start,
        )

    def _read_once(self) -> torch.Tensor | None:
        """Rows (sites side by side) of the next group of texts, or ``None`` at the corpus's end."""
        if self._batches is None:
            self._batches = self._open()
        for n_texts, ids, attention, keep in self._batches:
            self.cursor += n_texts
            self._window_groups = 0 if n_texts else self._window_groups + 1
            if not keep.any():
                continue
            rows = torch.cat(read_sites(self.lm, ids, attention, keep, self.sites), dim=-1)
            self.tokens_read += rows.shape[0]
            return rows
        return None

    def _end_of_corpus(self) -> bool:
        """Start the corpus again when cycling; ``True`` when the stream has no more text."""
        if self.epoch == 0 and self.tokens_read == 0:
            raise InvalidInputError("The corpus has no text to read activations from; give a corpus with some text.")
        if not self.cycle or self.tokens_read == self._epoch_start:  # a one-shot iterator gives nothing twice
            return True
        self.epoch, self.cursor, self._batches, self._window_groups = self.epoch + 1, 0, None, 0
        self._epoch_start = self.tokens_read
        return False

    def _refill(self) -> None:
        parts = [self._pool]
        size = self._pool.shape[0]
        while size < self.buffer_tokens and not self._exhausted:
            rows = self._read_once()
            if rows is None:
                self._exhausted = self._end_of_corpus()
                continue
            parts.append(rows)
            size += rows.shape[0]
        pool = torch.cat(parts)
        if self.shuffle:
            pool = pool[torch.randperm(pool.shape[0], generator=self.generator)]
        half = pool.shape[0] if self._exhausted else max(self.batch_size, pool.shape[0] // 2)
        self._ready = torch.cat([self._ready, pool[:half]])
        self._pool = pool[half:]

    def next_batch(self) -> list[torch.Tensor] | None:
        """The next batch, one ``[n, width]`` tensor per site (``None`` once a non-cycling stream ends)."""
        if self._ready.shape[0] < self.batch_size and not self._exhausted:
            self._refill()
        if self._ready.shape[0] == 0:
            return None
        batch, self._ready = self._ready[: self.batch_size], self._ready[self.batch_size :]
        return list(batch.split(self.widths, dim=-1))

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        while (batch := self.next_batch()) is not None:
            yield batch

    # -- resuming -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "cursor": self.cursor,
            "tokens_read": self.tokens_read,
            "pool": self._pool.clone(),
            "ready": self._ready.clone(),
            "generator": self.generator.get_state(),
            "exhausted": self._exhausted,
            "epoch_start": self._epoch_start,
            "window_groups": self._window_groups,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.cursor, self.tokens_read = int(state["epoch"]), int(state["cursor"]), int(state["tokens_read"])
        self._pool, self._ready = state["pool"], state["ready"]
        self.generator.set_state(state["generator"])
        self._exhausted, self._batches = bool(state["exhausted"]), None
        self._epoch_start = int(state["epoch_start"])
        self._window_groups = int(state.get("window_groups", 0))
