"""``Encoder``: a sentence-embedding model (the bundled MiniLM by default).

Used for monitoring (embeddings of prompts and responses), drift, semantic similarity and
clustering. Embeddings are mean-pooled over tokens (padding excluded) and L2-normalised, as
sentence-transformers does for all-MiniLM-L6-v2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pellucid.errors import InvalidInputError, ModelLoadError
from pellucid.models import fast_linear
from pellucid.models.loading import check_folder, resolve
from pellucid.settings import Settings

DEFAULT_ENCODER = "all-minilm-l6-v2"


class Encoder:
    """Text -> fixed-size vectors. Build with :meth:`Encoder.load`."""

    def __init__(
        self, model: Any, tokenizer: Any, name: str, max_length: int = 256, *, fast_kernels: bool | str = "auto"
    ) -> None:
        # Frozen weights (an encoder is only read) let its linear layers run on oneDNN.
        model.requires_grad_(False)
        fast_linear.accelerate(model, fast_kernels)
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = max_length

    @classmethod
    def load(cls, name_or_path: str = DEFAULT_ENCODER, settings: Settings | None = None) -> Encoder:
        from pathlib import Path

        from transformers import AutoModel, AutoTokenizer

        from pellucid.models.loading import quiet_transformers

        quiet_transformers()
        settings = settings or Settings.from_env()
        source = resolve(name_or_path, settings.models_dir, kind="encoder")
        if source.kind == "folder":
            check_folder(Path(source.location), allow_pickle=False)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.location)
            model = AutoModel.from_pretrained(source.location, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load encoder {name_or_path!r}: {exc}") from exc
        model.eval()
        return cls(model, tokenizer, source.name, fast_kernels=settings.fast_kernels)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 64, normalize: bool = True) -> np.ndarray:
        """Embeddings ``[len(texts), dim]`` (float32), in input order."""
        if isinstance(texts, str):
            raise InvalidInputError("embed() takes a list of texts; wrap a single text in a list.")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size={batch_size}; it must be at least 1.")
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # sort by length so each batch pads little; write back in the original order
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.numpy()
        return out
