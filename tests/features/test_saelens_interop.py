"""SAELens reads the folders Pellucid writes, and Pellucid reads the folders SAELens writes.

Needs ``sae-lens``: scripts/test.sh runs them in .venv-saelens (``scripts/saelens_env.sh``), the dev
environment plus SAELens; skipped where it is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pellucid.features import saelens_format
from tests.features.test_format_and_eval import random_dictionary

sae_lens = pytest.importorskip(
    "sae_lens", reason="sae-lens is not installed: scripts/test.sh runs these tests in .venv-saelens"
)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = float(b.abs().max()) or 1.0
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu"])
def test_saelens_loads_what_pellucid_writes(tiny_lm, tmp_path: Path, architecture: str) -> None:
    ours = random_dictionary(tiny_lm, architecture=architecture)
    saelens_format.save(ours, tmp_path)
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path))
    x = torch.randn(16, ours.config.d_in)
    with torch.no_grad():
        assert torch.equal(theirs.encode(x) > 0, ours.encode(x) > 0)
        _close(theirs.encode(x), ours.encode(x))
        _close(theirs.decode(ours.encode(x)), ours.decode(ours.encode(x)))
    assert theirs.cfg.metadata.hook_name == "blocks.1.hook_resid_post"


def test_saelens_loads_a_pellucid_jumprelu_transcoder(tiny_lm, tmp_path: Path) -> None:
    ours = random_dictionary(tiny_lm, "blocks.0.mlp.in", "jumprelu", site_out="blocks.0.mlp.out", d_out=32)
    saelens_format.save(ours, tmp_path)
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path))
    x = torch.randn(16, 32)
    with torch.no_grad():
        _close(theirs.decode(theirs.encode(x)), ours(x))


def test_saelens_loads_a_pellucid_jumprelu_skip_transcoder(tiny_lm, tmp_path: Path) -> None:
    ours = random_dictionary(tiny_lm, "blocks.0.mlp.in", "jumprelu", site_out="blocks.0.mlp.out", d_out=32, skip=True)
    saelens_format.save(ours, tmp_path)
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path))
    assert type(theirs).__name__ == "JumpReLUSkipTranscoder"
    x = torch.randn(16, 32)
    with torch.no_grad():
        _close(theirs(x), ours(x))  # SAELens' forward adds x @ W_skip.T as ours does


@pytest.mark.parametrize("architecture", ["topk", "jumprelu"])
def test_pellucid_loads_what_saelens_writes(tiny_lm, tmp_path: Path, architecture: str) -> None:
    from sae_lens.saes.sae import SAEMetadata

    metadata = SAEMetadata(model_name=tiny_lm.name, hook_name="blocks.1.hook_resid_post")
    if architecture == "topk":
        cfg = sae_lens.TopKSAEConfig(d_in=32, d_sae=96, k=6, metadata=metadata)
        theirs = sae_lens.TopKSAE(cfg)
    else:
        cfg = sae_lens.JumpReLUSAEConfig(d_in=32, d_sae=96, metadata=metadata)
        theirs = sae_lens.JumpReLUSAE(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=g).abs() if p.dim() == 1 else torch.randn(p.shape, generator=g))
    theirs.save_model(str(tmp_path))
    ours = saelens_format.load(tmp_path, tiny_lm)
    assert ours.config.site == "blocks.1.resid_post" and ours.config.architecture == architecture
    x = torch.randn(16, 32)
    with torch.no_grad():
        assert torch.equal(ours.encode(x) > 0, theirs.encode(x) > 0)
        _close(ours.encode(x), theirs.encode(x))
        _close(ours(x), theirs.decode(theirs.encode(x)))
