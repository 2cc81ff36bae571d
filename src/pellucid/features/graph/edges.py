"""Direct effects, one target row at a time, many rows per backward pass.

The graph's nodes are laid out as circuit-tracer lays them out::

    [ active features (layer, position, latent) | errors (layer-major: L × n) | tokens (n) | logits (m) ]

A *row* of the adjacency matrix holds the direct effects of every source (features, errors,
tokens) on one target (a feature or a logit). :func:`edge_rows` computes ``B`` rows with one
frozen forward of ``B`` copies of the prompt and one backward: row ``b`` injects its target
(the logit minus the mean logit, or a feature's pre-activation) in copy ``b`` only, so the
gradients of copy ``b`` are row ``b``'s. Each source's edge is its vector read against the
gradient where it is written (see :mod:`pellucid.features.graph.replacement`):

- feature ``(L, p, j)``: ``z_j · (W_dec[j] · g_L[p])``;
- error ``(L, p)``: ``e[L][p] · g_L[p]``;
- token ``p``: ``embed[p] · g_E[p]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pellucid.features.graph.replacement import Capture, FrozenForward


@dataclass
class Nodes:
    """The active features of a capture (sorted by layer, position, latent) and the index layout."""

    layer: torch.Tensor  # [F] long
    pos: torch.Tensor
    latent: torch.Tensor
    activation: torch.Tensor  # [F] float
    n_layers: int
    n_pos: int

    @classmethod
    def of(cls, cap: Capture) -> Nodes:
        parts = []
        for number, z in enumerate(cap.z):
            where, which = torch.nonzero(z > 0, as_tuple=True)
            parts.append((torch.full_like(where, number), where, which, z[where, which]))
        columns = [torch.cat([p[i] for p in parts]) for i in range(4)]
        return cls(columns[0], columns[1], columns[2], columns[3].float(), cap.n_layers, cap.n_pos)

    @property
    def n_features(self) -> int:
        return int(self.layer.numel())

    @property
    def error_offset(self) -> int:
        return self.n_features

    @property
    def token_offset(self) -> int:
        return self.n_features + self.n_layers * self.n_pos

    @property
    def n_sources(self) -> int:
        return self.token_offset + self.n_pos


@dataclass(frozen=True)
class Target:
    """One row: a logit (``token`` id) or a feature (``feature``: index into :class:`Nodes`)."""

    token: int = -1
    feature: int = -1


class RowComputer:
    """Computes batches of rows over one capture; per-layer decoder rows are gathered once.

    ``copies`` is the batch size of the one frozen forward every batch of rows reuses.
    """

    def __init__(self, forward: FrozenForward, nodes: Nodes, copies: int = 1) -> None:
        self.forward, self.nodes, self.cap, self.copies = forward, nodes, forward.cap, copies
        self.by_layer: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for layer in range(nodes.n_layers):
            index = torch.nonzero(nodes.layer == layer, as_tuple=True)[0]
            w_dec = self.cap.transcoders[layer].W_dec.detach().float()
            scaled = nodes.activation[index, None] * w_dec[nodes.latent[index]]  # [F_L, d]: z_j W_dec[j]
            self.by_layer.append((index, nodes.pos[index], scaled))
        self._kept: tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor] | None = None

    def _value(self, target: Target, b: int, inputs: list[torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        if target.token >= 0:
            return logits[b, target.token] - logits[b].mean()
        nodes = self.nodes
        layer, pos, latent = (int(t[target.feature]) for t in (nodes.layer, nodes.pos, nodes.latent))
        tc = self.cap.transcoders[layer]
        return inputs[layer][b, pos].float() @ tc.W_enc[:, latent].detach().float() + tc.b_enc[latent].detach().float()

    def _graph(self, batch: int) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """``(perturbation leaves, MLP inputs, logits)`` of one frozen forward of ``batch`` copies, kept for reuse.

        Every batch of rows injects into the same copies, so the forward runs once per graph and
        each batch costs one backward pass (``retain_graph``), as circuit-tracer does.
        """
        if self._kept is None or self._kept[2].shape[0] < batch:
            delta_embed, delta_mlp = self.forward.zeros(max(batch, self.copies), requires_grad=True)
            with torch.enable_grad():
                inputs, logits = self.forward.run(delta_embed, delta_mlp)
            self._kept = ([delta_embed, *delta_mlp], inputs, logits)
        return self._kept

    def rows(self, targets: list[Target]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows [B, n_sources], values [B])`` for ``targets``; ``values`` are the targets' clean values."""
        self.forward.lm.check_cancelled()
        leaves, inputs, logits = self._graph(len(targets))
        with torch.enable_grad():
            values = torch.stack([self._value(t, b, inputs, logits) for b, t in enumerate(targets)])
            grads = torch.autograd.grad(values.sum(), leaves, retain_graph=True, allow_unused=True)
        return self._assemble(len(targets), grads), values.detach()

    def _assemble(self, batch: int, grads: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
        nodes, cap = self.nodes, self.cap
        out = torch.zeros(batch, nodes.n_sources)
        g_embed = grads[0]
        if g_embed is not None:
            out[:, nodes.token_offset :] = torch.einsum("bpd,pd->bp", g_embed[:batch], cap.embed)
        for layer, g_all in enumerate(grads[1:]):
            if g_all is None:
                continue
            g = g_all[:batch]
            index, pos, scaled = self.by_layer[layer]
            if index.numel():
                # every feature against every position, then each feature's own: cheaper than gathering g
                out[:, index] = (g @ scaled.T)[:, pos, torch.arange(len(pos))]
            start = nodes.error_offset + layer * nodes.n_pos
            out[:, start : start + nodes.n_pos] = torch.einsum("bpd,pd->bp", g, cap.error[layer])
        return out


def edge_rows(computer: RowComputer, targets: list[Target], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows for every target, ``batch_size`` per forward and backward."""
    rows, values = [], []
    for start in range(0, len(targets), batch_size):
        r, v = computer.rows(targets[start : start + batch_size])
        rows.append(r)
        values.append(v)
    return torch.cat(rows), torch.cat(values)
