"""Layer-wise relevance propagation: the rules, conservation, untouched forwards, and lxt.

Measured on SmolLM2-135M-Instruct, " Paris" after the chat question "What is the capital of
France?" (sequence row, logit 17.425):

- CP-LRP, ε = 0: Σ relevance = 17.42525, relative residual 4.9e-7 (float32 rounding); with the
  default ε = 1e-6, 1.0e-5. "France" ranks first (1.30), then "capital" (0.50).
- AttnLRP, ε = 0: Σ relevance = 6.23, residual 0.64 — the softmax rule is not conservative (it drops
  the bias term of its Taylor expansion); the test below on the tiny Llama shows that the softmax's
  share is exactly the gap. "France" ranks first (0.47), then "capital" (0.26).
- In both, most relevance (5.0 of 6.2, 14.7 of 17.4) lands on the chat template and system prompt,
  which are not features.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from pellucid.attribution import METHODS, explain
from pellucid.attribution.lrp import token_relevance
from pellucid.attribution.lrp_rules import LayerNormRule, PassThrough, ScaleGradient, lrp_rules
from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.models.relevance import relevance_layout
from tests.support.checks import assert_no_hooks

PROMPT = "What is the capital of France?"
TARGET = " Paris is nice"


def _biases_are_zero(model: nn.Module) -> bool:
    return all(float(p.abs().max()) == 0.0 for name, p in model.named_parameters() if name.endswith("bias"))


def _logits(lm: LM, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return lm.forward(torch.tensor([ids])).logits[0]


# -- the rules on toy layers ------------------------------------------------------------------
def test_gated_product_splits_relevance_half_and_half():
    torch.manual_seed(0)
    gate, up, upstream = torch.randn(3, 5, requires_grad=True), torch.randn(3, 5, requires_grad=True), torch.randn(3, 5)
    act = PassThrough.apply(gate, nn.functional.silu(gate), 0.5)  # identity rule, halved
    y = act * ScaleGradient.apply(up, 0.5, 0.0)  # the other factor, halved
    (y * upstream).sum().backward()
    relevance_out = (y * upstream).detach()  # R_y = y · g_y
    torch.testing.assert_close(gate * gate.grad, relevance_out / 2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(up * up.grad, relevance_out / 2, rtol=1e-6, atol=1e-7)


def test_rmsnorm_with_constant_denominator_passes_relevance_unchanged():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(1)
    norm = LlamaRMSNorm(6)
    norm.weight.data = torch.randn(6)
    x, upstream = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6)
    y = PassThrough.apply(x, norm(x), 1.0)
    (y * upstream).sum().backward()
    torch.testing.assert_close(x * x.grad, (y * upstream).detach(), rtol=1e-6, atol=1e-7)
    # the same gradient as differentiating the norm with its denominator detached (lxt's form)
    x2 = x.detach().requires_grad_(True)
    rms = torch.rsqrt(x2.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon).detach()
    (norm.weight * x2 * rms * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)


def test_layernorm_rule_is_the_centring_with_constant_sigma():
    torch.manual_seed(2)
    norm = nn.LayerNorm(6)
    norm.weight.data, norm.bias.data = torch.randn(6), torch.randn(6)
    x, upstream = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6)
    y = LayerNormRule.apply(x, norm(x), norm)
    assert torch.equal(y, norm(x))
    (y * upstream).sum().backward()
    x2 = x.detach().requires_grad_(True)
    sigma = torch.sqrt(x2.var(-1, unbiased=False, keepdim=True) + norm.eps).detach()
    ((x2 - x2.mean(-1, keepdim=True)) / sigma * norm.weight * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)
    # conservation up to the bias: Σ R_x = Σ R_y − Σ b · g
    absorbed = (norm.bias * upstream).sum()
    torch.testing.assert_close((x * x.grad).sum(), (y * upstream).sum() - absorbed, rtol=1e-5, atol=1e-5)


def test_epsilon_rule_on_a_linear_layer():
    torch.manual_seed(3)
    layer, eps = nn.Linear(5, 4), 0.3
    x, upstream = torch.randn(5, requires_grad=True), torch.randn(4)
    z = ScaleGradient.apply(layer(x), 1.0, eps)
    (z * upstream).sum().backward()
    zd = z.detach()
    relevance_out = zd * upstream
    expected = (x.detach()[None, :] * layer.weight * (relevance_out / (zd + eps * torch.sign(zd)))[:, None]).sum(0)
    torch.testing.assert_close(x * x.grad, expected, rtol=1e-5, atol=1e-7)


def test_softmax_rule_is_the_plain_gradient():
    """AttnLRP's softmax rule R_i = x_i (R_i − s_i Σ_j R_j) is gradient × input with R = s · g."""
    torch.manual_seed(4)
    x, upstream = torch.randn(7, requires_grad=True), torch.randn(7)
    s = torch.softmax(x, -1)
    (s * upstream).sum().backward()
    relevance_out = (s * upstream).detach()
    expected = x.detach() * (relevance_out - s.detach() * relevance_out.sum())
    torch.testing.assert_close(x * x.grad, expected, rtol=1e-6, atol=1e-7)


# -- conservation -------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
def test_cp_lrp_conserves_the_logit(fixture, request):
    """CP-LRP with ε = 0 and zero biases: Σ relevance (tokens, continuation, position embeddings) = logit."""
    lm = request.getfixturevalue(fixture)
    assert _biases_are_zero(lm.model)  # random-initialised tiny models have zero biases
    ex = explain(lm, PROMPT, TARGET, method="lrp", variant="cp-lrp", epsilon=0.0, target_kind="logit")
    meta = ex.meta
    assert max(meta["conservation_residual_rows"]) < 2e-6
    np.testing.assert_allclose(meta["relevance_sum"], meta["explained_values"], rtol=2e-6, atol=1e-7)
    # the explained values are the model's own logits
    enc = lm.encode(PROMPT)
    ids = lm.encode_target(TARGET)
    logits = _logits(lm, enc.ids + ids[:-1])
    expected = [float(logits[len(enc.ids) - 1 + i, t]) for i, t in enumerate(ids)]
    np.testing.assert_allclose(meta["explained_values"], [*expected, sum(expected)], rtol=1e-5, atol=1e-6)
    # features + everything outside them = the total
    np.testing.assert_allclose(
        np.nansum(ex.scores, 1) + np.array(meta["relevance_outside_features"]), meta["relevance_sum"], atol=1e-9
    )
    if fixture == "tiny_gpt2":
        assert abs(meta["relevance_positional"][-1]) > 1e-3  # learned positions absorb a real share


def test_cp_lrp_conserves_with_a_foil(tiny_lm):
    ex = explain(tiny_lm, PROMPT, " Paris", method="lrp", foil=" London", variant="cp-lrp", epsilon=0.0)
    assert ex.meta["explained"] == "logit − foil logit"
    assert ex.meta["conservation_residual"] < 2e-6


def test_attnlrp_gap_is_exactly_what_the_softmax_absorbs(tiny_lm, monkeypatch):
    """AttnLRP conserves everywhere but the softmax: logit = Σ relevance + Σ_layers softmax share.

    With ``R = s · g`` at the softmax output and the input ``x`` (scores + mask), the relevance the
    softmax rule drops is ``½ (Σ s·g_s − Σ x·g_x)`` per layer (½: the uniform rule of ``softmax·v``).
    It is measured with gradient hooks in a copy of the eager attention function.
    """
    from transformers.models.llama import modeling_llama as ml

    absorbed: list[torch.Tensor] = []

    def recording(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        k, v = ml.repeat_kv(key, module.num_key_value_groups), ml.repeat_kv(value, module.num_key_value_groups)
        x = torch.matmul(query, k.transpose(2, 3)) * scaling
        if attention_mask is not None:
            x = x + attention_mask
        s = nn.functional.softmax(x, dim=-1, dtype=torch.float32).to(query.dtype)
        x.register_hook(lambda g: absorbed.append(-0.5 * (x.detach() * g).sum()))
        s.register_hook(lambda g: absorbed.append(0.5 * (s.detach() * g).sum()))
        return torch.matmul(s, v).transpose(1, 2).contiguous(), s

    monkeypatch.setattr(ml, "eager_attention_forward", recording)
    assert _biases_are_zero(tiny_lm.model)
    ids = tiny_lm.encode(PROMPT).ids
    target = tiny_lm.encode_target(" Paris")[0]
    relevance, logit = token_relevance(tiny_lm, ids, target, "attnlrp", 0.0)
    assert len(absorbed) == 2 * tiny_lm.n_layers
    gap = logit - float(relevance.sum())
    assert abs(gap) > 1e-3  # not conservative...
    assert gap == pytest.approx(float(sum(absorbed)), rel=1e-4, abs=1e-6)  # ...by exactly the softmax's share


def test_epsilon_absorbs_relevance(tiny_lm):
    exact = explain(tiny_lm, PROMPT, TARGET, method="lrp", variant="cp-lrp", epsilon=0.0)
    stable = explain(tiny_lm, PROMPT, TARGET, method="lrp", variant="cp-lrp", epsilon=0.1)
    assert stable.meta["conservation_residual"] > 100 * exact.meta["conservation_residual"]


def test_meta_names_what_is_explained(tiny_lm):
    ex = explain(tiny_lm, PROMPT, TARGET, method="lrp")  # target_kind defaults to logprob
    assert ex.meta["explained"] == "logit" and "not the logprob" in ex.meta["explained_note"]
    n_tokens = len(ex.labels["target"]) - 1
    assert ex.meta["backward_passes"] == n_tokens  # one per target token; the sequence row is their sum
    assert ex.meta["forward_passes"] == 1  # one LRP forward (the scorer builds no cache it would not use)
    assert ex.params["variant"] == "attnlrp" and ex.params["epsilon"] == 1e-6
    np.testing.assert_allclose(ex.scores[-1], ex.scores[:-1].sum(0), atol=1e-9, equal_nan=True)


# -- the model is untouched -----------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["tiny_lm", "tiny_gpt2", "tiny_neox"])
@pytest.mark.parametrize("variant", ["attnlrp", "cp-lrp"])
def test_forward_is_identical_with_rules_installed(fixture, variant, request):
    lm = request.getfixturevalue(fixture)
    ids = lm.encode(PROMPT).ids
    before = _logits(lm, ids)
    with lrp_rules(relevance_layout(lm.model, lm.model_type), variant, 1e-2), torch.enable_grad():
        embeds = lm.embed(torch.tensor([ids])).detach().requires_grad_(True)
        during = lm.forward(inputs_embeds=embeds).logits[0]
    assert torch.equal(before, during.detach())
    assert_no_hooks(lm.model)
    assert torch.equal(_logits(lm, ids), before)


def test_no_hooks_left_after_an_exception(tiny_lm, monkeypatch):
    layout = relevance_layout(tiny_lm.model, tiny_lm.model_type)
    with pytest.raises(RuntimeError, match="boom"):
        with lrp_rules(layout, "attnlrp", 1e-6):
            raise RuntimeError("boom")
    assert_no_hooks(tiny_lm.model)

    def fail(*args, **kwargs):
        raise RuntimeError("backward failed")

    monkeypatch.setattr(torch.autograd, "grad", fail)
    with pytest.raises(RuntimeError, match="backward failed"):
        explain(tiny_lm, PROMPT, TARGET, method="lrp")
    assert_no_hooks(tiny_lm.model)


def test_unsupported_family_is_named(tiny_lm):
    with pytest.raises(
        InvalidInputError, match="not available for 'bert'.*llama, mistral, qwen2, qwen3, gpt2, gpt_neox"
    ):
        relevance_layout(tiny_lm.model, "bert")
    with pytest.raises(InvalidInputError, match="choose one of attnlrp, cp-lrp"):
        explain(tiny_lm, PROMPT, TARGET, method="lrp", variant="lrp-0")


def test_registered():
    assert "lrp" in METHODS and METHODS["lrp"].signed
    assert [p["name"] for p in METHODS["lrp"].describe()["params"]] == ["variant", "epsilon"]


def test_lrp_on_a_model_copy_with_biases_reports_their_share(tiny_gpt2):
    """With nonzero biases CP-LRP is no longer exact; the residual says by how much."""
    model = copy.deepcopy(tiny_gpt2.model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.05)
    lm = LM(model, tiny_gpt2.tokenizer, "tiny-gpt2-biased")
    ex = explain(lm, PROMPT, TARGET, method="lrp", variant="cp-lrp", epsilon=0.0)
    assert ex.meta["conservation_residual"] > 1e-3


# -- against lxt (the authors' library) -------------------------------------------------------------
LXT_SCRIPT = textwrap.dedent(
    '''
    """lxt 2.1 on the tiny Llama: argv = model_dir variant ids target -> JSON relevances.

    lxt does not import as published with transformers 5.x: ``lxt.efficient``'s package __init__
    imports its BERT patches, which need the removed ``transformers.modeling_attn_mask_utils``, and its
    ``patch_attention`` swaps ``ALL_ATTENTION_FUNCTIONS`` for a plain dict without the
    ``get_interface`` transformers 5.x calls. So its ``rules``/``patches`` modules are loaded without
    the package __init__ and its Llama patch map is applied by hand (eager attention function only).
    lxt patches classes for the whole process, hence the subprocess.
    """
    import json, sys, types
    from pathlib import Path
    import torch
    import lxt
    package = types.ModuleType("lxt.efficient")
    package.__path__ = [str(Path(lxt.__file__).parent / "efficient")]
    sys.modules["lxt.efficient"] = package
    from lxt.efficient import patches
    from transformers import AutoModelForCausalLM
    from transformers.models.llama import modeling_llama as ml
    torch.set_num_threads(1)
    model_dir, variant, ids, target = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    ml.LlamaRMSNorm.forward = patches.rms_norm_forward
    if variant == "attnlrp":
        ml.LlamaMLP.forward = patches.gated_mlp_forward
        ml.eager_attention_forward = patches.wrap_attention_forward(ml.eager_attention_forward)
    else:
        ml.LlamaMLP.forward = patches.cp_gated_mlp_forward
        ml.eager_attention_forward = patches.cp_wrap_attention_forward(ml.eager_attention_forward)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    model.requires_grad_(False)
    embeds = model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
    model(inputs_embeds=embeds, use_cache=False).logits[0, -1, target].backward()
    print(json.dumps((embeds.grad[0] * embeds[0]).sum(-1).tolist()))
    '''
)


@pytest.mark.parametrize("variant", ["attnlrp", "cp-lrp"])
def test_matches_lxt_on_the_tiny_llama(tiny_lm, tiny_dir, variant):
    """Same relevances as lxt 2.1's efficient Llama rules (lxt has no ε: compare at ε = 0)."""
    pytest.importorskip("lxt", reason="lxt is not installed (pip install --no-deps lxt==2.1 to compare)")
    ids = tiny_lm.encode(PROMPT).ids
    target = tiny_lm.encode_target(" Paris")[0]
    ours, _ = token_relevance(tiny_lm, ids, target, variant, 0.0)
    run = subprocess.run(
        [sys.executable, "-c", LXT_SCRIPT, str(tiny_dir), variant, json.dumps(ids), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = torch.tensor(json.loads(run.stdout.strip().splitlines()[-1]), dtype=torch.float64)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


# -- SmolLM2 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["attnlrp", "cp-lrp"])
def test_smollm_paris_points_at_france(smollm, variant):
    ex = explain(smollm, PROMPT, " Paris", method="lrp", variant=variant)
    attributed = ex.meta["label_info"]["input"]["attributed"]
    words = [(float(s), label.strip()) for label, s, a in zip(ex.labels["input"], ex.scores[-1], attributed) if a]
    top2 = [w for _, w in sorted(words, reverse=True)[:2]]
    assert "France" in top2, words
    if variant == "cp-lrp":
        assert ex.meta["conservation_residual"] < 1e-4  # 1.0e-5 measured at ε = 1e-6
    assert ex.meta["explained_values"][-1] == pytest.approx(17.425, abs=0.01)
    assert_no_hooks(smollm.model)
