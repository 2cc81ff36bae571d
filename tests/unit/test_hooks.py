"""Sites and hooks: values match Hugging Face's own outputs, edits take effect, nothing leaks."""

import pytest
import torch

from pellucid.errors import InvalidInputError, UnknownNameError
from tests.support.checks import assert_no_hooks

FAMILIES = ["tiny_lm", "tiny_gpt2", "tiny_neox"]


@pytest.mark.parametrize("fixture", FAMILIES)
def test_resid_sites_equal_hidden_states(request, fixture):
    lm = request.getfixturevalue(fixture)
    ids = torch.tensor([lm.encode("the quick brown fox", chat=False).ids])
    with torch.no_grad():
        hf = lm.model(ids, output_hidden_states=True)
    sites = ["embed"] + [f"blocks.{i}.resid_pre" for i in range(lm.n_layers)] + ["blocks.0.resid_post"]
    logits, cache = lm.run_with_cache(ids, sites)
    torch.testing.assert_close(logits, hf.logits)
    for i in range(lm.n_layers):
        torch.testing.assert_close(cache[f"blocks.{i}.resid_pre"], hf.hidden_states[i])
    torch.testing.assert_close(cache["blocks.0.resid_post"], hf.hidden_states[1])
    if lm.model_type != "gpt2":  # GPT-2 adds position embeddings after the token embedding
        torch.testing.assert_close(cache["embed"], hf.hidden_states[0])
    assert set(cache) == set(sites)
    assert_no_hooks(lm.model)


@pytest.mark.parametrize("fixture", FAMILIES)
def test_attention_sites_shapes_and_pattern(request, fixture):
    lm = request.getfixturevalue(fixture)
    ids = torch.tensor([lm.encode("the quick brown fox", chat=False).ids])
    n = ids.shape[1]
    _, cache = lm.run_with_cache(
        ids, ["blocks.1.attn.pattern", "blocks.1.attn.z", "blocks.1.mlp.post", "blocks.1.mlp.out", "blocks.1.attn.out"]
    )
    pattern = cache["blocks.1.attn.pattern"]
    assert pattern.shape == (1, lm.n_heads, n, n)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(1, lm.n_heads, n))
    assert torch.all(pattern.triu(1) == 0)  # causal
    assert cache["blocks.1.attn.z"].shape == (1, n, lm.n_heads, lm.d_head)
    assert cache["blocks.1.attn.out"].shape == cache["blocks.1.mlp.out"].shape == (1, n, lm.d_model)


def test_edit_changes_output_and_z_edit_equals_manual(tiny_lm):
    ids = torch.tensor([tiny_lm.encode("Hello there", chat=False).ids])
    with torch.no_grad():
        clean = tiny_lm.forward(ids).logits

    def zero_head(z, site):
        z = z.clone()
        z[:, :, 1] = 0
        return z

    with torch.no_grad(), tiny_lm.hooks({"blocks.2.attn.z": zero_head}):
        edited = tiny_lm.forward(ids).logits
    assert not torch.allclose(clean, edited)

    # the same ablation by hand: zero head 1's slice of o_proj's input
    o_proj = tiny_lm.model.model.layers[2].self_attn.o_proj
    d = tiny_lm.d_head

    def manual(module, args):
        x = args[0].clone()
        x[..., d : 2 * d] = 0
        return (x,)

    handle = o_proj.register_forward_pre_hook(manual)
    try:
        with torch.no_grad():
            expected = tiny_lm.forward(ids).logits
    finally:
        handle.remove()
    torch.testing.assert_close(edited, expected)
    assert_no_hooks(tiny_lm.model)


def test_hooks_removed_after_exception(tiny_lm):
    ids = torch.tensor([tiny_lm.encode("Hello", chat=False).ids])

    def boom(x, site):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with tiny_lm.hooks({"blocks.0.resid_post": boom, "blocks.1.attn.z": lambda x, s: None}):
            tiny_lm.forward(ids)
    assert_no_hooks(tiny_lm.model)
    with pytest.raises(ValueError):
        with tiny_lm.hooks({"blocks.0.mlp.out": lambda x, s: None}):
            raise ValueError("user code failed inside the block")
    assert_no_hooks(tiny_lm.model)


def test_unknown_sites_list_valid_names(tiny_lm):
    with pytest.raises(UnknownNameError, match=r"Unknown site: 'blocks.0.nope'. Available: .*resid_post"):
        tiny_lm.site("blocks.0.nope")
    with pytest.raises(InvalidInputError, match=r"layers 0..2"):
        tiny_lm.site("blocks.7.resid_post")
    with pytest.raises(UnknownNameError, match="Available"):
        tiny_lm.run_with_cache("Hello", ["nonsense"])
    assert_no_hooks(tiny_lm.model)


def test_pattern_is_read_only_and_shape_checked(tiny_lm):
    ids = torch.tensor([tiny_lm.encode("Hello", chat=False).ids])
    with pytest.raises(InvalidInputError, match="read but not edited"):
        with tiny_lm.hooks({"blocks.0.attn.pattern": lambda x, s: x * 0}):
            tiny_lm.forward(ids)
    with pytest.raises(InvalidInputError, match="must keep the shape"):
        with tiny_lm.hooks({"blocks.0.mlp.out": lambda x, s: x[:, :1]}):
            tiny_lm.forward(ids)
    assert_no_hooks(tiny_lm.model)


def test_site_names_are_all_resolvable(tiny_lm):
    names = tiny_lm.site_names()
    assert len(names) == 1 + 8 * tiny_lm.n_layers + 2
    for name in names:
        tiny_lm.site(name)


def test_mlp_in_is_what_the_mlp_reads(tiny_lm):
    """``mlp.in`` is the MLP's input: the block's pre-MLP norm applied to the residual stream mid-block."""
    import torch

    _, cache = tiny_lm.run_with_cache("The movie was awful", ["blocks.1.mlp.in", "blocks.1.mlp.out"], chat=False)
    with torch.no_grad(), tiny_lm.lease():
        mlp = tiny_lm.model.get_submodule(f"{tiny_lm.arch.blocks}.1.{tiny_lm.arch.mlp}")
        out = mlp(cache["blocks.1.mlp.in"])
    scale = float(out.abs().max())
    assert torch.allclose(out, cache["blocks.1.mlp.out"], rtol=1e-5, atol=1e-6 * scale)
