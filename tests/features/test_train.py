"""Training on synthetic data with a known answer, and resuming from a checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pellucid.errors import InvalidInputError
from pellucid.features import objective as obj
from pellucid.features.dictionary import DictionaryConfig
from pellucid.features.train import TensorSource, TrainConfig, fit, write_summary


def sparse_mixture(n: int, d: int = 24, n_true: int = 32, per_token: float = 3.0, seed: int = 0):
    """Vectors made of a few of ``n_true`` known unit directions, with positive weights and an offset."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(n_true, d, generator=g)
    dirs /= dirs.norm(dim=-1, keepdim=True)
    on = torch.rand(n, n_true, generator=g) < per_token / n_true
    weights = torch.rand(n, n_true, generator=g) * 2 + 0.5
    return (on * weights) @ dirs + 0.3, dirs


@pytest.mark.parametrize("architecture", ["topk", "batchtopk"])
def test_a_sparse_dictionary_recovers_the_known_directions(architecture: str) -> None:
    x, dirs = sparse_mixture(16_000)
    config = DictionaryConfig(architecture, 24, 48, 3, "blocks.0.resid_post")
    train = TrainConfig(tokens=120_000, batch_size=256, lr=5e-3, dead_tokens=5_000)
    result = fit(TensorSource(x, batch_size=256), config, train)
    best = (result.dictionary.directions() @ dirs.T).max(0).values
    assert best.min() >= 0.95, f"worst direction recovered with cosine {best.min():.3f}"
    assert result.history[-1]["fve"] > 0.8
    with torch.no_grad():
        l0 = (result.dictionary.encode(x[:2000]) > 0).sum(-1).float().mean()
    assert 2.0 <= l0 <= 4.5  # about k = 3 active latents per token, at inference too


def test_jumprelu_learns_a_sparse_code() -> None:
    x, _ = sparse_mixture(8_000)
    config = DictionaryConfig("jumprelu", 24, 48, 3, "blocks.0.resid_post")
    result = fit(TensorSource(x, batch_size=256), config, TrainConfig(tokens=50_000, batch_size=256, lr=3e-3))
    first, last = result.history[0], result.history[-1]
    assert last["mse"] < first["mse"] / 2
    with torch.no_grad():
        l0 = (result.dictionary.encode(x[:2000]) > 0).sum(-1).float().mean()
    assert l0 < 24  # far sparser than the 48 latents


def test_a_transcoder_learns_a_map_between_two_sites() -> None:
    x, dirs = sparse_mixture(8_000)
    y = torch.relu(x) @ torch.randn(24, 16, generator=torch.Generator().manual_seed(1))
    config = DictionaryConfig("topk", 24, 48, 4, "blocks.0.mlp.in", site_out="blocks.0.mlp.out", d_out=16)
    result = fit(TensorSource(x, y, batch_size=256), config, TrainConfig(tokens=80_000, batch_size=256, lr=3e-3))
    assert result.dictionary.W_dec.shape == (48, 16)
    assert result.history[-1]["fve"] > 0.7


def test_a_skip_transcoder_reconstructs_far_better_at_the_same_width() -> None:
    """On a linear plus a sparse map the skip term takes the linear part and leaves the latents the sparse one."""
    x, _ = sparse_mixture(8_000)
    g = torch.Generator().manual_seed(1)
    y = x @ torch.randn(24, 16, generator=g) / 24**0.5 + 2.0 * torch.relu(x @ torch.randn(24, 16, generator=g) - 1.0)
    fve = {}
    for skip in (True, False):
        config = DictionaryConfig(
            "topk", 24, 48, 4, "blocks.0.mlp.in", site_out="blocks.0.mlp.out", d_out=16, skip=skip
        )
        dictionary = fit(
            TensorSource(x, y, batch_size=256), config, TrainConfig(tokens=80_000, batch_size=256, lr=3e-3)
        ).dictionary
        assert (dictionary.W_skip is not None) == skip
        with torch.no_grad():
            fve[skip] = float(1 - (dictionary(x) - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum())
    assert fve[True] > 0.9 and fve[True] > fve[False] + 0.05, fve


def test_the_exported_skip_transcoder_computes_what_was_trained() -> None:
    """Export folds the training scales into ``W_enc``, ``W_dec``, ``b_dec`` and ``W_skip``: the raw-unit
    dictionary's output is the normalised-space reconstruction divided by the output scale."""
    x, _ = sparse_mixture(512)
    y = 7.0 * x[:, :16] + 3.0
    config = DictionaryConfig("topk", 24, 48, 4, "blocks.0.mlp.in", site_out="blocks.0.mlp.out", d_out=16, skip=True)
    state = obj.TrainState(config, x, y, seed=0)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in (state.enc, state.b_enc, state.dec, state.b_dec, state.skip):
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
        xc, _ = state.inputs(x, y)
        pre = xc @ state.enc.T + state.b_enc
        values, idx = pre.topk(4, dim=-1)
        z = torch.zeros_like(pre).scatter_(-1, idx, values.relu())
        expected = (z @ state.dec + state.b_dec + xc @ state.skip.T) / state.scale_out
        got = state.export(config)(x)
    assert float((got - expected).abs().max()) <= 1e-5 * float(expected.abs().max())


class _Interrupt(Exception):
    pass


def interrupt(x: torch.Tensor, config: DictionaryConfig, train: TrainConfig, out: Path, *, at: float) -> None:
    """Start a run that checkpoints into ``out`` and stop it once ``at`` of its tokens are trained."""

    def stop(fraction: float, _: dict[str, float]) -> None:
        if fraction >= at:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(TensorSource(x, batch_size=256, seed=5), config, train, out=out, progress=stop)


def test_resuming_from_a_checkpoint_ends_where_an_uninterrupted_run_ends(tmp_path: Path) -> None:
    x, _ = sparse_mixture(4_000)
    config = DictionaryConfig("topk", 24, 48, 3, "blocks.0.resid_post")
    train = TrainConfig(tokens=256 * 40, batch_size=256, lr=3e-3, checkpoint_every=15, dead_tokens=1_000)
    whole = fit(TensorSource(x, batch_size=256, seed=5), config, train)
    interrupt(x, config, train, tmp_path, at=20 / 40)
    resumed = fit(TensorSource(x, batch_size=256, seed=5), config, train, out=tmp_path, resume=True)
    assert 0 < resumed.tokens < whole.tokens  # continued from the checkpoint at step 15, not from the start
    assert (resumed.resumed_at, resumed.resumed_at + resumed.tokens) == (256 * 15, whole.tokens)
    summary = json.loads(write_summary(tmp_path, resumed, train).read_text())
    assert (summary["tokens"], summary["resumed_at"]) == (whole.tokens, 256 * 15)  # the run's total, not the session's
    for name, tensor in whole.dictionary.state_dict().items():
        assert torch.equal(tensor, resumed.dictionary.state_dict()[name]), name


def test_a_resumed_run_can_be_given_another_token_budget(tmp_path: Path) -> None:
    x, _ = sparse_mixture(4_000)
    config = DictionaryConfig("topk", 24, 48, 3, "blocks.0.resid_post")
    # a constant learning rate, so a run shortened from 40 to 30 steps is the run planned for 30 from the start
    train = TrainConfig(tokens=256 * 40, batch_size=256, lr=3e-3, warmup=0, decay=0, checkpoint_every=10)
    shorter = replace(train, tokens=256 * 30)
    planned = fit(TensorSource(x, batch_size=256, seed=5), config, shorter)
    interrupt(x, config, train, tmp_path, at=25 / 40)
    with pytest.raises(InvalidInputError, match=r"tokens=3840, but the checkpoint has already trained on \d+ tokens"):
        fit(TensorSource(x, batch_size=256, seed=5), config, replace(train, tokens=256 * 15), out=tmp_path, resume=True)
    resumed = fit(TensorSource(x, batch_size=256, seed=5), config, shorter, out=tmp_path, resume=True)
    assert 0 < resumed.resumed_at < resumed.resumed_at + resumed.tokens == planned.tokens  # from step 20, to the end
    for name, tensor in planned.dictionary.state_dict().items():
        assert torch.equal(tensor, resumed.dictionary.state_dict()[name]), name


def test_a_checkpoint_without_a_newer_setting_resumes_with_its_default(tmp_path: Path) -> None:
    x, _ = sparse_mixture(4_000)
    config = DictionaryConfig("topk", 24, 48, 3, "blocks.0.resid_post")
    train = TrainConfig(tokens=256 * 40, batch_size=256, lr=3e-3, checkpoint_every=10)
    interrupt(x, config, train, tmp_path, at=15 / 40)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    del saved["dictionary"]["skip"], saved["train"]["threshold_lr"]  # as written before these settings existed
    torch.save(saved, tmp_path / "checkpoint.pt")
    resumed = fit(TensorSource(x, batch_size=256, seed=5), config, train, out=tmp_path, resume=True)
    assert resumed.resumed_at > 0
    saved["dictionary"]["skip"] = True  # a setting the checkpoint does record is still compared
    torch.save(saved, tmp_path / "checkpoint.pt")
    with pytest.raises(InvalidInputError, match="skip differ"):
        fit(TensorSource(x, batch_size=256, seed=5), config, train, out=tmp_path, resume=True)


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    x, _ = sparse_mixture(2_000)
    config = DictionaryConfig("topk", 24, 48, 3, "blocks.0.resid_post")
    train = TrainConfig(tokens=256 * 4, batch_size=256, checkpoint_every=2)
    fit(TensorSource(x, batch_size=256), config, train, out=tmp_path)
    other = DictionaryConfig("topk", 24, 48, 4, "blocks.0.resid_post")
    with pytest.raises(InvalidInputError, match="k differ"):
        fit(TensorSource(x, batch_size=256), other, train, out=tmp_path, resume=True)
    with pytest.raises(InvalidInputError, match="no checkpoint.pt"):
        fit(TensorSource(x, batch_size=256), config, train, out=tmp_path / "nowhere", resume=True)


def test_bad_shapes_are_refused_with_the_values() -> None:
    with pytest.raises(InvalidInputError, match="k=80 is more than the 64 latents"):
        DictionaryConfig("topk", 24, 64, 80, "blocks.0.resid_post")
    with pytest.raises(InvalidInputError, match="Unknown architecture"):
        DictionaryConfig("gated", 24, 64, 8, "blocks.0.resid_post")
    with pytest.raises(InvalidInputError, match="widths"):
        fit(TensorSource(torch.randn(100, 20)), DictionaryConfig("topk", 24, 64, 8, "blocks.0.resid_post"))
