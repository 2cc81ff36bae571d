"""Dictionaries on a tiny random model: folders in SAELens' layout, streamed activations, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.features.activations import ActivationStream, site_width
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from pellucid.features.evaluate import EVAL_FILE, evaluate
from pellucid.features.pipeline import train_dictionary
from pellucid.features.train import TrainConfig
from tests.support.checks import assert_no_hooks
from tests.support.tiny import CORPUS

SITE = "blocks.1.resid_post"


def random_dictionary(lm, site: str = SITE, architecture: str = "topk", seed: int = 0, **kw) -> SparseDictionary:
    d = site_width(lm, site)
    config = DictionaryConfig(architecture, d, 4 * d, 4, site, lm.name, lm.version, **kw)
    dictionary = SparseDictionary(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in dictionary.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        dictionary.threshold.abs_()
    return dictionary


def identity_dictionary(lm, site: str = SITE) -> SparseDictionary:
    """Latents ``relu(x)`` and ``relu(-x)`` decoded as ``+I`` and ``-I``: reconstructs every vector exactly."""
    d = site_width(lm, site)
    dictionary = SparseDictionary(DictionaryConfig("topk", d, 2 * d, d, site, lm.name, lm.version))
    eye = torch.eye(d)
    with torch.no_grad():
        dictionary.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        dictionary.W_dec.copy_(torch.cat([eye, -eye], dim=0))
    return dictionary


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu"])
def test_save_then_load_gives_the_same_tensors(tiny_lm, tmp_path: Path, architecture: str) -> None:
    original = random_dictionary(tiny_lm, architecture=architecture)
    sparsity = torch.linspace(-5, -1, original.d_sae)
    saelens_format.save(original, tmp_path, sparsity)
    loaded = saelens_format.load(tmp_path, tiny_lm)
    assert loaded.config == original.config
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + ([] if architecture == "topk" else ["threshold"])
    for name in names:
        assert torch.equal(getattr(loaded, name), getattr(original, name)), name
    assert torch.equal(saelens_format.load_sparsity(tmp_path), sparsity)
    x = torch.randn(5, original.config.d_in)
    assert torch.equal(loaded.encode(x), original.encode(x))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    assert cfg["metadata"]["pellucid_site"] == SITE
    assert cfg["architecture"] == ("topk" if architecture == "topk" else "jumprelu")


def test_a_transcoder_round_trips_with_both_sites(tiny_lm, tmp_path: Path) -> None:
    original = random_dictionary(tiny_lm, "blocks.0.mlp.in", "batchtopk", site_out="blocks.0.mlp.out", d_out=32)
    saelens_format.save(original, tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert (cfg["architecture"], cfg["apply_b_dec_to_input"]) == ("jumprelu_transcoder", False)
    assert cfg["metadata"]["hook_name"] == "blocks.0.ln2.hook_normalized"
    assert cfg["metadata"]["hook_name_out"] == "blocks.0.hook_mlp_out"
    loaded = saelens_format.load(tmp_path, tiny_lm)
    assert loaded.config.site_out == "blocks.0.mlp.out"
    assert torch.equal(loaded.W_dec, original.W_dec)


@pytest.mark.parametrize(
    ("architecture", "name"), [("topk", "topk_skip_transcoder"), ("jumprelu", "jumprelu_skip_transcoder")]
)
def test_a_skip_transcoder_round_trips_with_its_skip_term(
    tiny_lm, tmp_path: Path, architecture: str, name: str
) -> None:
    original = random_dictionary(
        tiny_lm, "blocks.0.mlp.in", architecture, site_out="blocks.0.mlp.out", d_out=32, skip=True
    )
    assert original.W_skip is not None and original.W_skip.shape == (32, 32)
    saelens_format.save(original, tmp_path)
    assert json.loads((tmp_path / "cfg.json").read_text())["architecture"] == name
    loaded = saelens_format.load(tmp_path, tiny_lm)
    assert loaded.config.skip and loaded.W_skip is not None and torch.equal(loaded.W_skip, original.W_skip)
    from pellucid.service.features import info

    assert info(tmp_path)["skip"] is True and info(tmp_path)["architecture"] == architecture
    x = torch.randn(8, 32)
    with torch.no_grad():
        # the forward adds the skip term to the decoded code
        assert torch.equal(loaded(x), loaded.decode(loaded.encode(x)) + x @ original.W_skip.T)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    cfg["architecture"] = name.replace("_skip", "")  # a config that drops the term its weights still hold
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(InvalidInputError, match=f"has W_skip, but cfg.json's architecture '{cfg['architecture']}'"):
        saelens_format.load(tmp_path, tiny_lm)


def test_skip_is_for_transcoders_only(tiny_lm) -> None:
    with pytest.raises(InvalidInputError, match=f"skip=True needs a transcoder .* over '{SITE}'"):
        DictionaryConfig("topk", 32, 64, 4, SITE, skip=True)


def test_a_folder_written_elsewhere_maps_its_hook_names(tiny_lm, tmp_path: Path) -> None:
    """An older SAELens config (hook_point, activation_fn_kwargs.k, model_name at the top) is read."""
    saelens_format.save(random_dictionary(tiny_lm), tmp_path)
    cfg = {
        "d_in": 32,
        "d_sae": 128,
        "hook_point": "blocks.1.hook_resid_post",
        "model_name": tiny_lm.name,
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": 4},
        "dtype": "float32",
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    loaded = saelens_format.load(tmp_path, tiny_lm)
    assert (loaded.config.site, loaded.config.k, loaded.config.architecture) == (SITE, 4, "topk")
    assert saelens_format.site_from_hook("blocks.3.mlp.hook_post") == "blocks.3.mlp.post"
    with pytest.raises(InvalidInputError, match="hook_resid_mid"):
        saelens_format.site_from_hook("blocks.3.hook_resid_mid")


def test_a_dictionary_for_another_model_or_width_is_refused(tiny_lm, tmp_path: Path) -> None:
    saelens_format.save(random_dictionary(tiny_lm).with_config(model="gpt2-small"), tmp_path / "other")
    with pytest.raises(InvalidInputError, match="'gpt2-small'.*" + tiny_lm.name):
        saelens_format.load(tmp_path / "other", tiny_lm)
    wide = SparseDictionary(DictionaryConfig("topk", 768, 1024, 8, SITE, tiny_lm.name))
    saelens_format.save(wide, tmp_path / "wide")
    with pytest.raises(InvalidInputError, match="d_in is 768.*width 32"):
        saelens_format.load(tmp_path / "wide", tiny_lm)
    with pytest.raises(InvalidInputError, match="no cfg.json"):
        saelens_format.load(tmp_path / "missing", tiny_lm)


def test_unknown_sites_and_empty_corpora_are_refused(tiny_lm, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Unknown site"):
        site_width(tiny_lm, "blocks.1.resid_middle")
    with pytest.raises(InvalidInputError, match="layers 0..2"):
        site_width(tiny_lm, "blocks.7.resid_post")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n")
    with pytest.raises(InvalidInputError, match="has no text"):
        train_dictionary(tiny_lm, empty, SITE, latents=64, k=4)
    with pytest.raises(InvalidInputError, match="does not exist"):
        train_dictionary(tiny_lm, tmp_path / "nope.txt", SITE, latents=64, k=4)


def test_the_stream_keeps_real_tokens_only_and_resumes_exactly(tiny_lm) -> None:
    texts = CORPUS * 3
    n_tokens = sum(len(tiny_lm.tokenizer(t)["input_ids"]) for t in texts)  # each text after <|endoftext|>
    stream = ActivationStream(tiny_lm, texts, [SITE], batch_size=16, buffer_tokens=64, cycle=False, seed=1)
    rows = torch.cat([b[0] for b in stream])
    assert rows.shape == (n_tokens, 32)  # every real token once, none of the padding or document starts
    _, cache = tiny_lm.run_with_cache("<|endoftext|>" + texts[0], [SITE], chat=False)
    first = cache[SITE][0]
    assert any(torch.allclose(r, first[1], rtol=1e-5, atol=1e-6 * float(first.abs().max())) for r in rows)
    a = ActivationStream(tiny_lm, texts, [SITE], batch_size=16, buffer_tokens=64, seed=2)
    for _ in range(3):
        a.next_batch()
    b = ActivationStream(tiny_lm, texts, [SITE], batch_size=16, buffer_tokens=64, seed=2)
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        assert torch.equal(a.next_batch()[0], b.next_batch()[0])
    assert_no_hooks(tiny_lm.model)


def test_an_exact_dictionary_recovers_everything_and_a_zero_decoder_nothing(tiny_lm, tmp_path: Path) -> None:
    exact = evaluate(tiny_lm, identity_dictionary(tiny_lm), CORPUS, out=tmp_path)
    assert exact.fve == 1.0 and exact.ce_recovered == 1.0
    assert exact.ce_spliced == exact.ce_clean
    assert json.loads((tmp_path / EVAL_FILE).read_text())["ce_recovered"] == 1.0
    zero = identity_dictionary(tiny_lm)
    with torch.no_grad():
        zero.W_dec.zero_()
    report = evaluate(tiny_lm, zero, CORPUS)
    assert abs(report.ce_recovered) < 1e-6  # a ratio of losses: 0 up to the rounding of the two forwards
    assert report.fve <= 0.0
    assert report.ce_zero != report.ce_clean
    assert_no_hooks(tiny_lm.model)


def test_training_on_the_tiny_model_writes_a_saelens_folder(tiny_lm, tmp_path: Path) -> None:
    result = train_dictionary(
        tiny_lm,
        CORPUS * 4,
        SITE,
        latents=64,
        k=4,
        out=tmp_path,
        config=TrainConfig(tokens=2_000, batch_size=64, lr=1e-2),
        buffer_tokens=256,
    )
    assert {"cfg.json", "sae_weights.safetensors", "sparsity.safetensors", "pellucid_train.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    loaded = saelens_format.load(tmp_path, tiny_lm)
    assert torch.equal(loaded.W_enc, result.dictionary.W_enc)
    report = evaluate(tiny_lm, loaded, CORPUS)
    assert report.fve > 0.3 and 0 < report.l0 <= 4


def test_a_transcoder_trains_and_splices_into_the_mlp(tiny_lm) -> None:
    result = train_dictionary(
        tiny_lm,
        CORPUS * 4,
        "blocks.0.mlp.in",
        site_out="blocks.0.mlp.out",
        latents=64,
        k=8,
        config=TrainConfig(tokens=2_000, batch_size=64, lr=1e-2),
        buffer_tokens=256,
    )
    report = evaluate(tiny_lm, result.dictionary, CORPUS)
    assert report.tokens > 0 and report.ce_zero >= 0
    assert_no_hooks(tiny_lm.model)


def test_show_feature_finds_the_strongest_context_and_the_direction_s_tokens(tiny_lm) -> None:
    from pellucid.features.show import show_feature

    dictionary = identity_dictionary(tiny_lm)
    # a feature's page reads texts as they are encoded, as the token view reads a prompt
    stream = ActivationStream(tiny_lm, CORPUS, [SITE], batch_size=16, buffer_tokens=64, cycle=False,
                              document_start=False)  # fmt: skip
    rows = torch.cat([b[0] for b in stream])
    view = show_feature(tiny_lm, dictionary, 0, CORPUS, top=3)
    assert view.tokens_read == rows.shape[0]
    expected = float(rows[:, 0].max())
    assert abs(view.max_activation - expected) <= 1e-5 * abs(expected)
    assert view.contexts[0]["max"] == view.max_activation and len(view.contexts) == 3
    assert view.contexts[0]["activations"][view.contexts[0]["peak"]] == pytest.approx(expected, rel=1e-5)
    assert view.density == pytest.approx(float((rows[:, 0] > 0).float().mean()), rel=1e-6)
    assert sum(view.histogram["counts"]) == int((rows[:, 0] > 0).sum())
    scores = [s for _, s in view.promoted]
    assert scores == sorted(scores, reverse=True) and scores[0] > view.suppressed[0][1]
    with pytest.raises(InvalidInputError, match="features 0..63"):
        show_feature(tiny_lm, dictionary, 64, CORPUS)
