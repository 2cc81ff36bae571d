"""What the serving model itself thinks of a logged response: perplexity and token entropy.

One teacher-forced forward pass over ``prompt + response``: the model reads the logged prompt
(with its chat template) and the logged response, and at each response position we read its
predicted distribution over the next token:

- **perplexity** = ``exp(−mean log p(actual token))``: how surprised the model is by the text it
  (supposedly) wrote. A greedy answer scores close to 1; a response from another model, a
  cached answer to a different prompt, or tampered text scores high.
- **mean token entropy** = mean over positions of ``−Σ p log p`` (nats): how unsure the model was
  at each step, whatever token was finally chosen. High entropy means the model was guessing.

No judge model, no network: only the serving model's own probabilities. This module imports
torch inside the function, so importing it stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pellucid.models import LM


@dataclass(frozen=True)
class ResponseStats:
    """Teacher-forced statistics of one response under one model."""

    perplexity: float
    mean_entropy: float
    n_tokens: int


def chat_flag(params: dict[str, Any] | None) -> bool | None:
    """Whether the call used the chat template: the logged ``params["chat"]`` (``raw`` means no),
    else ``None`` (the model's default: chat when it has a template)."""
    params = params or {}
    if isinstance(params.get("chat"), bool):
        return bool(params["chat"])
    if params.get("raw") is True:
        return False
    return None


def response_stats(lm: LM, prompt: Any, response: str, *, chat: bool | None = None) -> ResponseStats:
    """Perplexity and mean entropy of ``response`` after ``prompt`` (text or chat messages)."""
    import torch

    enc = lm.encode(prompt, chat=chat)
    target = lm.encode_target(response)
    lm.check_length(len(enc) + len(target), "logged prompt plus response")
    ids = torch.tensor([enc.ids + target[:-1]], dtype=torch.long, device=lm.device)
    with torch.no_grad():
        logits = lm.forward(ids, logits_to_keep=len(target)).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    chosen = logp[torch.arange(len(target)), torch.tensor(target, device=logp.device)]
    entropy = -(logp.exp() * logp).sum(-1)
    return ResponseStats(
        perplexity=math.exp(-float(chosen.mean())),
        mean_entropy=float(entropy.mean()),
        n_tokens=len(target),
    )
