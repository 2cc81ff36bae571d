"""A dictionary of sparse features: a sparse autoencoder (SAE) or a transcoder over one site.

A sparse autoencoder rewrites an activation ``x`` (``[..., d_in]``) as a sparse, non-negative
combination of learned directions (the *latents*, or features)::

    pre = (x - b_dec) @ W_enc + b_enc          # [..., d_sae]  (a transcoder does not subtract b_dec)
    z   = sparsify(pre)                         # most entries 0
    x̂   = z @ W_dec + b_dec                     # [..., d_out]

``sparsify`` is the architecture:

- ``topk``: keep the ``k`` largest pre-activations of each token (ReLU'd), zero the rest;
- ``batchtopk``: trained by keeping the ``k × batch`` largest over a whole batch, which lets
  busy tokens use more latents than quiet ones; at inference each latent fires when its
  pre-activation passes the threshold learned during training (as SAELens does), so it encodes
  like ``jumprelu``;
- ``jumprelu``: ``pre`` where ``pre > threshold`` (one learned threshold per latent), else 0.

A *transcoder* has the same parts but reads one site and predicts another: it reads the MLP's
input (``blocks.L.mlp.in``) and reconstructs the MLP's output (``blocks.L.mlp.out``), so its
latents replace the MLP by a sparse, readable one. ``site`` is what it reads, ``site_out`` what it
writes (``None`` for an autoencoder, whose output replaces its input).

A *skip transcoder* (``skip=True``; Paulo et al. 2025, SAELens' ``SkipTranscoder``) adds a linear
term read straight from the input, ``x @ W_skip.T``: the part of the MLP that is linear needs no
latents, so the same width leaves far less error. The term is not a feature: in an attribution
graph it is a linear path, like the residual stream (:mod:`pellucid.features.graph.replacement`).

Weights follow SAELens' names and shapes (``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_out]``) so a
folder saved by :mod:`pellucid.features.saelens_format` loads there unchanged. The metadata
(:class:`DictionaryConfig`) names the model (and its fingerprint) and the site, so a dictionary is
never applied to the wrong model or layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from pellucid.errors import InvalidInputError, unknown_name

ARCHITECTURES = ("topk", "batchtopk", "jumprelu")


@dataclass(frozen=True)
class DictionaryConfig:
    """What a dictionary is: its shape, its sparsity rule and where it applies.

    ``k`` is the number of active latents per token for ``topk`` (the training target for
    ``batchtopk``; informational for ``jumprelu``). ``model`` is the model's name and
    ``model_version`` its fingerprint (:attr:`pellucid.models.LM.version`) when known.
    """

    architecture: str
    d_in: int
    d_sae: int
    k: int
    site: str
    model: str = ""
    model_version: str = ""
    site_out: str | None = None
    d_out: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    skip: bool = False

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise unknown_name("architecture", self.architecture, ARCHITECTURES)
        for name in ("d_in", "d_sae", "k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name}={value!r}; it must be a positive whole number.")
        if self.k > self.d_sae:
            raise InvalidInputError(
                f"k={self.k} is more than the {self.d_sae} latents; choose k ≤ latents (typically 16-64)."
            )
        if self.skip and self.site_out is None:
            raise InvalidInputError(
                f"skip=True needs a transcoder (a site_out), but the dictionary over {self.site!r} is a sparse "
                "autoencoder: train a transcoder (--transcoder), or leave skip off."
            )

    @property
    def is_transcoder(self) -> bool:
        return self.site_out is not None

    @property
    def width_out(self) -> int:
        """The reconstruction's width: ``d_out`` for a transcoder, else ``d_in``."""
        return self.d_out if self.d_out is not None else self.d_in

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DictionaryConfig:
        return cls(**data)


class SparseDictionary(nn.Module):
    """A trained (or loaded) SAE or transcoder: ``encode``, ``decode``, ``forward``.

    Shapes: ``encode`` maps ``[..., d_in] -> [..., d_sae]``, ``decode`` maps
    ``[..., d_sae] -> [..., d_out]``, ``forward`` is their composition. Call it under
    ``torch.no_grad()`` to read features; :mod:`pellucid.features.train` fits the weights.
    """

    W_enc: nn.Parameter
    b_enc: nn.Parameter
    W_dec: nn.Parameter
    b_dec: nn.Parameter
    threshold: nn.Parameter
    W_skip: nn.Parameter | None

    def __init__(self, config: DictionaryConfig, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = config
        d_in, d_sae, d_out = config.d_in, config.d_sae, config.width_out
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae, dtype=dtype))
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_out, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(d_out, dtype=dtype))
        self.threshold = nn.Parameter(torch.zeros(d_sae, dtype=dtype), requires_grad=False)
        # SAELens' shape: [d_out, d_in], applied as x @ W_skip.T
        self.W_skip = nn.Parameter(torch.zeros(d_out, d_in, dtype=dtype)) if config.skip else None

    # -- the three maps ------------------------------------------------------------------
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_sae]``: the encoder's affine map before sparsification."""
        self._check_width(x, self.config.d_in, "input")
        x = x.to(self.W_enc.dtype)
        if not self.config.is_transcoder:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_sae]`` latent activations (non-negative, mostly zero)."""
        pre = self.pre_activations(x)
        if self.config.architecture == "topk":
            values, indices = pre.topk(self.config.k, dim=-1, sorted=False)
            return torch.zeros_like(pre).scatter_(-1, indices, values.relu())
        return pre.relu() * (pre > self.threshold)

    def encode_topk(self, x: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` strongest latents of each token: ``(values [..., k], indices [..., k])``.

        Sorted by value, largest first; values are the encoded activations (0 where fewer than
        ``k`` latents fire). The compact form for listing a token's features.
        """
        z = self.encode(x)
        values, indices = z.topk(min(k or self.config.k, self.config.d_sae), dim=-1)
        return values, indices

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[..., d_sae] -> [..., d_out]``: the reconstruction ``z @ W_dec + b_dec``."""
        self._check_width(z, self.config.d_sae, "latent vector")
        return z.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def skip_out(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_out]``: a skip transcoder's linear term ``x @ W_skip.T`` (zeros without one)."""
        if self.W_skip is None:
            return torch.zeros(*x.shape[:-1], self.config.width_out, dtype=self.W_dec.dtype, device=x.device)
        return x.to(self.W_skip.dtype) @ self.W_skip.T

    def reconstruct(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``[..., d_out]``: the output for input ``x`` and its code ``z``, ``decode(z)`` plus any skip term."""
        out = self.decode(z)
        return out if self.W_skip is None else out + self.skip_out(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., d_in] -> [..., d_out]``: encode then decode (plus the skip term of a skip transcoder)."""
        return self.reconstruct(x, self.encode(x))

    # -- facts ---------------------------------------------------------------------------
    @property
    def d_sae(self) -> int:
        return self.config.d_sae

    def directions(self) -> torch.Tensor:
        """``[d_sae, d_out]`` unit-norm decoder directions (what each latent writes)."""
        return self.W_dec / self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def with_config(self, **changes: Any) -> SparseDictionary:
        """The same weights under an updated configuration (e.g. new metadata)."""
        other = SparseDictionary(replace(self.config, **changes), dtype=self.W_enc.dtype)
        other.load_state_dict(self.state_dict())
        return other

    def _check_width(self, x: torch.Tensor, width: int, what: str) -> None:
        if x.shape[-1] != width:
            raise InvalidInputError(
                f"The {what} has width {x.shape[-1]} but this dictionary expects {width} "
                f"(site {self.config.site!r} of {self.config.model or 'its model'}); "
                "pass activations of that site, or load the dictionary trained for this model."
            )

    def __repr__(self) -> str:
        c = self.config
        kind = ("skip transcoder" if c.skip else "transcoder") if c.is_transcoder else "SAE"
        return f"SparseDictionary({kind}, {c.architecture}, {c.d_in}->{c.d_sae}, k={c.k}, site={c.site!r})"
