"""oneDNN linear layers: same numbers as ``F.linear``, same module in every other respect."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pellucid.models import LM, fast_linear
from pellucid.settings import Settings

needs_onednn = pytest.mark.skipif(
    not fast_linear.kernel_present(), reason="this PyTorch build has no oneDNN linear kernel"
)


def _layer(bias: bool = True, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(48, 80, bias=bias).requires_grad_(False)
    fast_linear.accelerate(layer, "on")
    return layer


def _reference(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = None if layer.bias is None else layer.bias.double()
    return F.linear(x.double(), layer.weight.double(), bias)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 48), (3, 11, 48), (2, 3, 5, 48)])
def test_forward_equals_fp64_reference(bias: bool, shape: tuple[int, ...]) -> None:
    layer = _layer(bias)
    assert type(layer) is fast_linear.FastLinear
    x = torch.randn(*shape)
    out = layer(x)
    assert out.shape == (*shape[:-1], 80) and out.dtype == torch.float32
    assert torch.allclose(out.double(), _reference(layer, x), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_non_contiguous_and_empty_inputs() -> None:
    layer = _layer()
    x = torch.randn(48, 9).t()  # a transposed view
    assert torch.allclose(layer(x).double(), _reference(layer, x), atol=1e-5)
    assert layer(torch.randn(2, 0, 48)).shape == (2, 0, 80)


@needs_onednn
def test_input_gradient_equals_stock_gradient() -> None:
    layer = _layer()
    stock = copy.deepcopy(layer)
    fast_linear.restore(stock)
    x = torch.randn(4, 6, 48)
    upstream = torch.randn(4, 6, 80)
    grads = []
    for module in (layer, stock):
        xi = x.clone().requires_grad_()
        (module(xi) * upstream).sum().backward()
        grads.append(xi.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
    assert layer.weight.grad is None  # frozen weights get no gradient


@needs_onednn
def test_falls_back_where_onednn_does_not_apply() -> None:
    double = _layer().double()  # fp64: stock path, exact
    x = torch.randn(3, 48, dtype=torch.float64)
    assert torch.equal(double(x), F.linear(x, double.weight, double.bias))
    layer = _layer()
    layer.weight.requires_grad_(True)  # trainable weights: stock path, weight gradient kept
    layer(torch.randn(3, 48)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (80, 48)
    layer.weight.requires_grad_(False)
    x1 = torch.randn(48)  # a single vector
    assert torch.allclose(layer(x1).double(), _reference(layer, x1), atol=1e-5)


@needs_onednn
def test_hooks_state_dict_and_restore() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)).requires_grad_(False)
    keys = list(model.state_dict())
    assert fast_linear.accelerate(model, "on") == 2
    assert fast_linear.accelerated(model) and isinstance(model[0], nn.Linear)
    assert list(model.state_dict()) == keys
    seen: list[torch.Size] = []
    handle = model[2].register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    model(torch.randn(5, 8))
    handle.remove()
    assert seen == [torch.Size([5, 2])]
    assert fast_linear.restore(model) == 2
    assert not fast_linear.accelerated(model) and type(model[0]) is nn.Linear


@needs_onednn
def test_loaded_models_follow_the_setting(tiny_dir: Path, tmp_path: Path) -> None:
    on = LM.load(str(tiny_dir), Settings.from_env({"PELLUCID_FAST_KERNELS": "1"}, home=tmp_path / "a"))
    off = LM.load(str(tiny_dir), Settings.from_env({"PELLUCID_FAST_KERNELS": "0"}, home=tmp_path / "b"))
    auto = LM.load(str(tiny_dir), Settings(home=tmp_path / "c"))
    assert fast_linear.accelerated(on.model) and not fast_linear.accelerated(off.model)
    assert fast_linear.accelerated(auto.model) == (fast_linear.measured_gain() >= fast_linear.MIN_GAIN)
    ids = torch.tensor([[1, 5, 9, 4, 7, 3]])
    with torch.no_grad():
        fast, stock = on.forward(ids).logits, off.forward(ids).logits
    # the two kernels sum in different orders: fp32 rounding relative to the logits' scale
    assert torch.allclose(fast, stock, rtol=1e-5, atol=1e-5 * float(stock.abs().max()))


def test_auto_mode_measures_once_and_needs_a_clear_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    gain = fast_linear.measured_gain()
    assert gain == fast_linear.measured_gain()  # cached: measured once per process
    assert gain > 0 if fast_linear.kernel_present() else gain == 0
    for measured, expected in [(2.0, True), (1.1, False), (0.8, False)]:
        monkeypatch.setattr(fast_linear, "measured_gain", lambda m=measured: m)
        assert fast_linear.available("auto") == (expected and fast_linear.kernel_present())
        assert fast_linear.available("on") == fast_linear.kernel_present()
        assert fast_linear.available(False) is False and fast_linear.available("off") is False
    with pytest.raises(ValueError, match="'fast'.*auto, on, off"):
        fast_linear.available("fast")


def test_the_setting_is_auto_on_or_off() -> None:
    from pellucid.errors import InvalidInputError

    assert Settings.from_env({"PELLUCID_FAST_KERNELS": "off"}).fast_kernels == "off"
    assert Settings.from_env({"PELLUCID_FAST_KERNELS": "1"}).fast_kernels == "on"
    assert Settings.from_env({"PELLUCID_FAST_KERNELS": "AUTO"}).fast_kernels == "auto"
    assert Settings.from_env({}).fast_kernels == "auto"
    with pytest.raises(InvalidInputError, match="PELLUCID_FAST_KERNELS='maybe'.*auto.*1.*0"):
        Settings.from_env({"PELLUCID_FAST_KERNELS": "maybe"})


@needs_onednn
def test_encoder_embeddings_unchanged(minilm) -> None:
    from pellucid.models import Encoder

    fast_model, stock_model = copy.deepcopy(minilm.model), copy.deepcopy(minilm.model)
    fast_linear.accelerate(fast_model, "on")
    fast_linear.restore(stock_model)
    assert fast_linear.accelerated(fast_model) and not fast_linear.accelerated(stock_model)
    fast = Encoder(fast_model, minilm.tokenizer, minilm.name, fast_kernels="off")
    stock = Encoder(stock_model, minilm.tokenizer, minilm.name, fast_kernels="off")
    texts = ["A cat sits on the mat.", "Stock markets fell sharply today, analysts said."]
    # unit-length embeddings: fp32 rounding of different summation orders, relative to 1
    assert abs(fast.embed(texts) - stock.embed(texts)).max() < 1e-5
