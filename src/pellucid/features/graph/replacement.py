"""The local replacement model of one prompt: transcoder features, error terms, frozen attention and norms.

One clean forward (:func:`capture`) records, for every layer ``L`` and position ``p``, the MLP's
input and output, and encodes the input with the layer's transcoder: ``z[L][p]`` (the active
features) and the *error* ``e[L][p] = mlp_out − decode(z)`` — what the transcoder misses. The
attention patterns and norm scales are recorded too (:class:`~pellucid.models.freezing.Freezer`).

The frozen forward (:class:`FrozenForward`) runs the model with those held fixed and each MLP's
output replaced by a constant, ``mlp_out[L] + Δ[L]``: the clean output written as its sources,
``Σ_j z_j W_dec[j] + b_dec + e``, plus a perturbation ``Δ``. A skip transcoder's linear term
``mlp_in @ W_skip.T`` is no source: it stays a function of the (frozen, hence affine) MLP input,
a linear path like the residual stream, and ``e`` is what the features and that term miss. The token embeddings are
``embed + Δ_E`` the same way. Everything between these writes and the reads (the MLP inputs,
the logits) is then affine, so:

- the gradient of a target (a feature's pre-activation ``W_enc[:, i] · mlp_in[L][p]``, or a
  logit minus the mean logit) with respect to ``Δ[L][p]`` read against a source's vector
  (``z_j W_dec[j]``, ``e[L][p]``, ``embed[p]``) is that source's *direct effect* on the target;
- setting ``Δ`` to minus a source's vector removes it, and the target moves by exactly that
  direct effect (what the tests check edge by edge);
- the target's value is the sum of every source's direct effect plus a constant (biases, and
  the position embeddings of models that have them): the frozen forward with every source
  removed (:meth:`FrozenForward.bias`).

The first position is the model's attention sink (its activations dwarf the rest) and
transcoders are not trained on it. When it holds a special token (a raw prompt gets the
document-start token first, see :func:`pellucid.models.tokens.document_start_id`; a chat
prompt starts with the template's), nothing there depends on the prompt: causal attention lets
position 0 see only itself. Its MLP outputs are then part of the constant term, with no feature
or error nodes (``constant_first``), as circuit-tracer treats its BOS position. Otherwise its
features are not nodes by default and its MLP output less ``b_dec`` is its error node: a skip
transcoder's linear term, a fit to the positions it was trained on, is not applied there either
(``skip_first=False`` keeps the features and the term).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.features.graph.transcoders import TranscoderSet
from pellucid.models.freezing import Freezer

if TYPE_CHECKING:
    from torch import nn

    from pellucid.models.lm import LM


@dataclass
class Capture:
    """A prompt's clean pass: ``ids [1, n]``, per-layer ``mlp_in/mlp_out/z/error`` (``[n, ·]``), and more."""

    ids: torch.Tensor
    logits: torch.Tensor  # [V] at the last position, float32
    embed: torch.Tensor  # [n, d]
    mlp_in: list[torch.Tensor]
    mlp_out: list[torch.Tensor]
    z: list[torch.Tensor]  # [n, d_sae]; the first position's row is zero
    error: list[torch.Tensor]
    freezer: Freezer
    transcoders: TranscoderSet
    constant_first: bool = False  # position 0 is a special token: its MLP outputs are constants, not nodes
    skip_first: bool = False  # position 0 has no feature nodes: its MLP output less b_dec is its error node

    @property
    def n_pos(self) -> int:
        return int(self.ids.shape[1])

    @property
    def n_layers(self) -> int:
        return len(self.mlp_out)


def _modules(lm: LM) -> tuple[nn.Module, list[nn.Module]]:
    return lm.site("embed").module, [lm.site(f"blocks.{layer}.mlp.in").module for layer in range(lm.n_layers)]


@torch.no_grad()
def capture(
    lm: LM, ids: torch.Tensor, transcoders: TranscoderSet, skip_first: bool = True, constant_first: bool = False
) -> Capture:
    """Run the prompt once and record everything the frozen forward and the nodes need.

    ``skip_first`` leaves the first position without feature nodes and skip term (its MLP output
    less ``b_dec`` is its error); ``constant_first`` leaves it without feature and error nodes
    (its MLP outputs are constants).
    """
    freezer = Freezer(lm)
    embed_module, mlps = _modules(lm)
    seen: dict[str, Any] = {"in": [None] * len(mlps), "out": [None] * len(mlps)}

    def mlp_reader(layer: int) -> Any:
        def read(_m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            seen["in"][layer], seen["out"][layer] = x[0].detach().float(), y[0].detach().float()
            return y

        return read

    def embed_reader(_m: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen["embed"] = y[0].detach().float()
        return y

    pairs = [*freezer.capture(), (embed_module, embed_reader), *((m, mlp_reader(i)) for i, m in enumerate(mlps))]
    with lm.replace_outputs(pairs):
        logits = lm.forward(ids).logits[0, -1].float()
    z, error = [], []
    for layer in range(lm.n_layers):
        tc = transcoders[layer]
        zl = tc.encode(seen["in"][layer]).float()
        if skip_first or constant_first:
            zl[0] = 0.0  # the attention sink's features are not nodes
        z.append(zl)
        err = seen["out"][layer] - tc.reconstruct(seen["in"][layer], zl).float()
        if skip_first and tc.W_skip is not None:
            err[0] = seen["out"][layer][0] - tc.b_dec.float()  # no skip term at the attention sink
        if constant_first:
            err[0] = 0.0  # nor is its error: the whole output is a constant (see bias())
        error.append(err)
    return Capture(ids, logits, seen["embed"], seen["in"], seen["out"], z, error, freezer, transcoders, constant_first,
                   skip_first or constant_first)  # fmt: skip


class FrozenForward:
    """Forward passes of the replacement model around a :class:`Capture` (see the module docstring)."""

    def __init__(self, lm: LM, cap: Capture) -> None:
        self.lm, self.cap = lm, cap
        self.embed_module, self.mlps = _modules(lm)

    def run(self, delta_embed: torch.Tensor, delta_mlp: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(mlp inputs [B, n, d] per layer, logits [B, V] at the last position)`` for perturbations ``Δ``.

        ``delta_embed`` is ``[B, n, d]``, ``delta_mlp`` one ``[B, n, d]`` per layer; gradients flow
        from the outputs back to them when they require it.
        """
        cap, batch = self.cap, int(delta_embed.shape[0])
        inputs: list[torch.Tensor] = [delta_embed] * cap.n_layers

        def mlp_writer(layer: int) -> Any:
            def write(_m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                inputs[layer] = x
                return (cap.mlp_out[layer] + delta_mlp[layer] + self._skip(layer, x)).to(y.dtype)

            return write

        def embed_writer(_m: nn.Module, _x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (cap.embed + delta_embed).to(y.dtype)

        pairs = [*self.cap.freezer.frozen(batch), (self.embed_module, embed_writer)]
        pairs.extend((m, mlp_writer(i)) for i, m in enumerate(self.mlps))
        ids = cap.ids.expand(batch, cap.n_pos)
        with self.lm.replace_outputs(pairs):
            logits = self.lm.forward(ids, logits_to_keep=1).logits[:, -1].float()
        return inputs, logits

    def _skip(self, layer: int, x: torch.Tensor) -> torch.Tensor | float:
        """A skip transcoder's linear term, moved by how far the MLP input ``x`` is from the clean one.

        Zero in the clean pass; not applied at the first position when it has no feature nodes (the
        attention sink, where transcoders are not trained) or is constant.
        """
        tc = self.cap.transcoders[layer]
        if tc.W_skip is None:
            return 0.0
        moved = tc.skip_out(x.float() - self.cap.mlp_in[layer]).float()
        if self.cap.skip_first:
            moved = torch.cat([torch.zeros_like(moved[:, :1]), moved[:, 1:]], dim=1)
        return moved

    def zeros(self, batch: int, requires_grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Zero perturbations for ``batch`` copies (leaves that require grad when asked)."""
        shape = (batch, *self.cap.embed.shape)
        device = self.cap.embed.device
        delta_embed = torch.zeros(shape, device=device, requires_grad=requires_grad)
        delta_mlp = [torch.zeros(shape, device=device, requires_grad=requires_grad) for _ in self.mlps]
        return delta_embed, delta_mlp

    @torch.no_grad()
    def bias(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The frozen forward with every source removed (embeddings, features and errors): the constant term.

        Each MLP then writes only its transcoder's decoder bias ``b_dec`` (and a skip transcoder's
        linear term of its input, except at a first position without feature nodes), which is not a
        node, except at a constant first position, where it writes its whole clean output.
        """
        delta_embed, delta_mlp = self.zeros(1)
        delta_embed -= self.cap.embed
        first = 1 if self.cap.constant_first else 0
        for layer, out in enumerate(self.cap.mlp_out):
            tc = self.cap.transcoders[layer]
            sources = out - tc.b_dec.detach().float() - tc.skip_out(self.cap.mlp_in[layer]).detach().float()
            if self.cap.skip_first:
                sources[0] = out[0] - tc.b_dec.detach().float()  # the first position has no skip term
            delta_mlp[layer][0, first:] -= sources[first:]
        return self.run(delta_embed, delta_mlp)
