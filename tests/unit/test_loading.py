"""Resolving and loading models: clear errors for every kind of bad input, offline."""

import time

import pytest

from pellucid.errors import ModelLoadError, ModelNotFoundError
from pellucid.models import LM
from pellucid.models.loading import resolve
from pellucid.settings import Settings


def test_unknown_name_lists_bundled_models_fast(settings):
    started = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="smollm2-135m-instruct") as info:
        LM.load("no-such-model-xyz", settings)
    assert "local folder" in str(info.value)
    assert time.perf_counter() - started < 10  # offline: no network retries


def test_missing_folder_and_folder_without_weights(settings, tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        LM.load(str(tmp_path / "missing/"), settings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        LM.load(str(tmp_path / "empty"), settings)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="no model weights"):
        LM.load(str(tmp_path / "cfg"), settings)


def test_pickle_weights_refused_unless_allowed(settings, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match="allow_pickle=True"):
        LM.load(str(folder), settings)


def test_corrupt_gguf_is_a_load_error(settings, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF but not really")
    with pytest.raises(ModelLoadError, match="Could not read GGUF file"):
        LM.load(str(bad), settings)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        LM.load(str(tmp_path / "absent.gguf"), settings)


def test_invalid_hub_id(settings):
    with pytest.raises(ModelNotFoundError, match="not a valid model name"):
        resolve("bad id with spaces", settings.models_dir)


def test_bundled_encoder_is_not_a_causal_lm(settings):
    with pytest.raises(ModelNotFoundError, match="bundled encoder"):
        LM.load("all-minilm-l6-v2", settings)


def test_folder_loads_and_names_model(tiny_dir):
    lm = LM.load(str(tiny_dir), Settings(home=tiny_dir.parent / "h"))
    assert lm.name == tiny_dir.name and lm.model_type == "llama" and not lm.model.training
