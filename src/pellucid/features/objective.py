"""The training objective of each architecture, computed sparsely where the architecture allows.

A TopK SAE's forward is dominated by two products of the batch with a ``[d_sae, d]`` matrix:
the encoder (``[B, d] @ [d, d_sae]``) and the decoder (``[B, d_sae] @ [d_sae, d]``), and the
backward pass doubles each. But only ``k`` of the ``d_sae`` latents of a token are non-zero, so

- the encoder's full product is needed once, *without* gradients, to choose the ``k`` latents;
- the chosen pre-activations are taken from that product, and their backward pass is a sparse
  product (one entry per chosen latent: ``B·k·d`` work instead of ``B·d_sae·d``), so it touches
  only the chosen encoder rows;
- the decoder is a weighted sum of ``k`` decoder rows (``F.embedding_bag`` in ``sum`` mode), whose
  backward is a scatter-add into those rows.

Per step this costs about one dense product instead of six. BatchTopK does the same with a
variable number of latents per token (``embedding_bag`` with one bag per token); JumpReLU,
whose active set depends on a learned threshold with a straight-through gradient, runs dense.

Training happens in a normalised space: inputs (and a transcoder's targets) are scaled so that
their mean squared norm equals their width (SAELens' ``expected_average_only_in``), which makes
one learning rate fit every site; :meth:`TrainState.export` folds the scales back into the weights,
so the saved dictionary reads raw activations. Encoder rows are stored ``[d_sae, d_in]`` (the
transpose of ``W_enc``) so the decoder-style reads of chosen rows are contiguous.

A skip transcoder's linear term (``skip [d_out, d_in]``, started at the least-squares fit of
the first batch: :func:`ridge_fit`) is one dense
``[B, d_in] @ [d_in, d_out]`` product per step, added to every architecture's reconstruction.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pellucid.features.dictionary import DictionaryConfig, SparseDictionary

#: bandwidth of the straight-through estimator of JumpReLU's threshold gradient (Rajamanoharan et al. 2024)
BANDWIDTH = 0.001


def geometric_median(points: torch.Tensor, iterations: int = 25) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the sum of distances to ``points`` ``[n, d]``."""
    median = points.mean(0)
    for _ in range(iterations):
        weights = 1.0 / (points - median).norm(dim=-1).clamp_min(1e-8)
        median = (weights[:, None] * points).sum(0) / weights.sum()
    return median


def ridge_fit(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W [d_out, d_in], b [d_out])`` minimising ``|y - x @ W.T - b|² + ridge·n·|W|²`` over the rows.

    A skip transcoder starts from this least-squares fit of its first batch, so the latents learn
    what the MLP does beyond its best linear map from the first step on.
    """
    x, y = x.double(), y.double()
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    gram = xc.T @ xc + ridge * x.shape[0] * torch.eye(x.shape[1], dtype=x.dtype)
    weight = torch.linalg.solve(gram, xc.T @ yc).T
    return weight.float().contiguous(), (my - weight @ mx).float()


class TrainState(nn.Module):
    """The parameters being trained, in the normalised space (see the module docstring)."""

    scale_in: torch.Tensor
    scale_out: torch.Tensor
    batch_threshold: torch.Tensor
    skip: nn.Parameter | None

    def __init__(self, config: DictionaryConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        super().__init__()
        self.config = config
        generator = torch.Generator().manual_seed(seed)
        d_sae, d_in, d_out = config.d_sae, config.d_in, config.width_out
        self.register_buffer("scale_in", torch.tensor(math.sqrt(d_in / x.pow(2).sum(-1).mean().item())))
        self.register_buffer("scale_out", torch.tensor(math.sqrt(d_out / y.pow(2).sum(-1).mean().item())))
        dec = torch.randn(d_sae, d_out, generator=generator)
        self.dec = nn.Parameter(dec / dec.norm(dim=-1, keepdim=True))
        if config.is_transcoder:
            enc = torch.randn(d_sae, d_in, generator=generator)
            enc = enc / enc.norm(dim=-1, keepdim=True)
            self.b_dec = nn.Parameter((y * self.scale_out).mean(0))
        else:
            enc = self.dec.detach().clone()  # encoder starts as the decoder's transpose (Gao et al. 2024)
            self.b_dec = nn.Parameter(geometric_median(x[:4096] * self.scale_in))
        self.enc = nn.Parameter(enc.contiguous())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.log_threshold = nn.Parameter(torch.full((d_sae,), math.log(BANDWIDTH)))
        self.register_buffer("batch_threshold", torch.tensor(0.0))
        self.skip = None
        if config.skip:
            skip, bias = ridge_fit(x * self.scale_in, y * self.scale_out)
            self.skip = nn.Parameter(skip)
            self.b_dec = nn.Parameter(bias)

    def with_skip(self, xc: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        """``recon`` plus the skip term ``xc @ skip.T`` of a skip transcoder (unchanged otherwise)."""
        return recon if self.skip is None else torch.addmm(recon, xc, self.skip.t())

    def inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled encoder input (minus ``b_dec`` for an autoencoder) and scaled target."""
        x = x * self.scale_in
        y = y * self.scale_out
        return (x if self.config.is_transcoder else x - self.b_dec), y

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.dec.div_(self.dec.norm(dim=-1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Remove the part of each decoder row's gradient that would only change its norm."""
        if self.dec.grad is not None:
            self.dec.grad -= (self.dec.grad * self.dec).sum(-1, keepdim=True) * self.dec

    @torch.no_grad()
    def export(self, base: DictionaryConfig) -> SparseDictionary:
        """The dictionary in raw activation units (scales folded into the weights)."""
        dictionary = SparseDictionary(base)
        s_in, s_out = float(self.scale_in), float(self.scale_out)
        dictionary.W_enc.copy_(self.enc.t() * s_in)
        dictionary.b_enc.copy_(self.b_enc)
        dictionary.W_dec.copy_(self.dec / s_out)
        dictionary.b_dec.copy_(self.b_dec / (s_in if not base.is_transcoder else s_out))
        if self.skip is not None and dictionary.W_skip is not None:
            dictionary.W_skip.copy_(self.skip * (s_in / s_out))  # y·s_out ≈ (x·s_in) @ skip.T
        if base.architecture == "jumprelu":
            dictionary.threshold.copy_(self.log_threshold.exp())
        elif base.architecture == "batchtopk":
            dictionary.threshold.fill_(float(self.batch_threshold))
        return dictionary


class _ChosenPre(torch.autograd.Function):
    """The pre-activations at ``(rows, cols)`` pairs, with gradients that touch only those latents.

    The values come from the dense product already computed without gradients; the backward pass
    builds the ``[d_sae, B]`` gradient as a sparse matrix with one entry per pair and multiplies it
    by the batch (``B·k·d`` work, no ``[B, k, d]`` gather): rows of the encoder that no token chose
    get exactly zero.
    """

    @staticmethod
    def forward(
        ctx: Any,
        xc: torch.Tensor,
        enc: torch.Tensor,
        b_enc: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        values: torch.Tensor,
    ) -> torch.Tensor:
        ctx.save_for_backward(xc, enc, rows, cols)
        return values.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        xc, enc, rows, cols = ctx.saved_tensors
        d_sae, batch = enc.shape[0], xc.shape[0]
        by_latent = torch.sparse_coo_tensor(torch.stack([cols, rows]), grad, (d_sae, batch), check_invariants=False)
        grad_enc = torch.sparse.mm(by_latent, xc)
        grad_b_enc = torch.zeros(d_sae, dtype=grad.dtype).index_add_(0, cols, grad)
        grad_xc = torch.sparse.mm(by_latent.t(), enc) if ctx.needs_input_grad[0] else None
        return grad_xc, grad_enc, grad_b_enc, None, None, None


def _chosen_pre(
    state: TrainState, xc: torch.Tensor, pre: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """``pre[rows, cols]`` (flat), differentiable with respect to the encoder and ``b_dec``."""
    values = pre[rows, cols]
    out: torch.Tensor = _ChosenPre.apply(xc, state.enc, state.b_enc, rows, cols, values)
    return out


def _gathered_pre(state: TrainState, xc: torch.Tensor, pre: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``[B, k]`` pre-activations of the latents ``idx`` ``[B, k]``, with gradients to their rows only."""
    batch, k = idx.shape
    rows = torch.arange(batch).repeat_interleave(k)
    return _chosen_pre(state, xc, pre, rows, idx.reshape(-1)).view(batch, k)


def topk_loss(
    state: TrainState,
    xc: torch.Tensor,
    y: torch.Tensor,
    k: int,
    dead: torch.Tensor | None,
    aux_k: int,
    aux_coefficient: float,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Reconstruction MSE (summed over width, mean over tokens) + the AuxK loss on dead latents."""
    with torch.no_grad():
        pre = torch.addmm(state.b_enc, xc, state.enc.t())
        idx = pre.topk(k, dim=-1, sorted=False).indices
    acts = _gathered_pre(state, xc, pre, idx).relu()
    recon = state.with_skip(xc, F.embedding_bag(idx, state.dec, per_sample_weights=acts, mode="sum") + state.b_dec)
    mse = (recon - y).pow(2).sum(-1).mean()
    fired = idx[acts > 0]
    loss = mse + _aux_loss(state, xc, y - recon.detach(), pre, dead, aux_k, aux_coefficient)
    return loss, {"mse": mse.detach(), "fired": fired, "l0": (acts > 0).sum(-1).float().mean()}


def _aux_loss(
    state: TrainState,
    xc: torch.Tensor,
    residual: torch.Tensor,
    pre: torch.Tensor,
    dead: torch.Tensor | None,
    aux_k: int,
    coefficient: float,
) -> torch.Tensor:
    """AuxK (Gao et al. 2024): the top ``aux_k`` *dead* latents reconstruct the main reconstruction's error.

    The gradient reaches latents that no longer fire, pulling them back towards useful directions;
    scaled down while fewer than ``aux_k`` latents are dead.
    """
    n_dead = 0 if dead is None else int(dead.sum())
    if n_dead == 0 or coefficient == 0 or dead is None:
        return residual.new_zeros(())
    take = min(aux_k, n_dead)
    with torch.no_grad():
        idx = pre.masked_fill(~dead, float("-inf")).topk(take, dim=-1, sorted=False).indices
    acts = _gathered_pre(state, xc, pre, idx).relu()
    recon = F.embedding_bag(idx, state.dec, per_sample_weights=acts, mode="sum")
    loss = (recon - residual).pow(2).sum(-1).mean()
    return coefficient * min(n_dead / aux_k, 1.0) * torch.nan_to_num(loss, nan=0.0)


def batchtopk_loss(
    state: TrainState,
    xc: torch.Tensor,
    y: torch.Tensor,
    k: int,
    dead: torch.Tensor | None,
    aux_k: int,
    aux_coefficient: float,
    threshold_lr: float,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """BatchTopK: the ``k × B`` largest activations over the whole batch; the threshold tracks their minimum."""
    batch, d_sae = xc.shape[0], state.config.d_sae
    with torch.no_grad():
        pre = torch.addmm(state.b_enc, xc, state.enc.t())
        flat = pre.relu().flatten().topk(k * batch, sorted=False).indices
        rows, cols = flat // d_sae, flat % d_sae
    acts = _chosen_pre(state, xc, pre, rows, cols).relu()
    order = rows.argsort()  # embedding_bag sums consecutive runs: one run (bag) per token
    offsets = torch.zeros(batch, dtype=torch.long)
    offsets[1:] = torch.bincount(rows, minlength=batch).cumsum(0)[:-1]
    recon = F.embedding_bag(cols[order], state.dec, offsets, per_sample_weights=acts[order], mode="sum") + state.b_dec
    recon = state.with_skip(xc, recon)
    mse = (recon - y).pow(2).sum(-1).mean()
    with torch.no_grad():
        positive = acts[acts > 0]
        if positive.numel():
            low = float(positive.min())
            # the threshold starts as an exact 0 and is set to a positive activation on the first batch, then
            # stays a mean of positive ones: 0 can only mean "never set", not a computed value near zero
            first = float(state.batch_threshold) == 0.0
            state.batch_threshold.fill_(
                low if first else (1 - threshold_lr) * float(state.batch_threshold) + threshold_lr * low
            )
    loss = mse + _aux_loss(state, xc, y - recon.detach(), pre, dead, aux_k, aux_coefficient)
    return loss, {"mse": mse.detach(), "fired": cols[acts > 0], "l0": (acts > 0).sum().float() / batch}


class _JumpReLU(torch.autograd.Function):
    """``pre · 1[pre > θ]`` with a straight-through gradient for θ (rectangle kernel of width ε)."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre, threshold = ctx.saved_tensors
        window = ((pre - threshold).abs() < BANDWIDTH / 2).to(grad.dtype)
        return grad * (pre > threshold), (-(threshold / BANDWIDTH) * window * grad).sum(0)


class _Step(torch.autograd.Function):
    """``1[pre > θ]`` (the L0 count) with the same straight-through gradient for θ."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre, threshold = ctx.saved_tensors
        window = ((pre - threshold).abs() < BANDWIDTH / 2).to(grad.dtype)
        return torch.zeros_like(pre), (-(1.0 / BANDWIDTH) * window * grad).sum(0)


def jumprelu_loss(
    state: TrainState, xc: torch.Tensor, y: torch.Tensor, l0_coefficient: float
) -> tuple[torch.Tensor, dict[str, Any]]:
    """JumpReLU: MSE + ``l0_coefficient`` × L0 (dense; the trainer adapts the coefficient towards L0 = k)."""
    pre = torch.addmm(state.b_enc, xc, state.enc.t()).relu()
    threshold = state.log_threshold.exp()
    acts = _JumpReLU.apply(pre, threshold)
    recon = state.with_skip(xc, acts @ state.dec + state.b_dec)
    mse = (recon - y).pow(2).sum(-1).mean()
    l0 = _Step.apply(pre, threshold).sum(-1).mean()
    fired = (acts > 0).nonzero()[:, 1]
    return mse + l0_coefficient * l0, {"mse": mse.detach(), "fired": fired, "l0": l0.detach()}
