"""Model loading safety: remote code off unless asked, pickle weights refused, malformed ids rejected."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from pellucid.errors import ModelLoadError, ModelNotFoundError
from pellucid.models.loading import ModelSource, load_weights, resolve


class _Stop(Exception):
    pass


@pytest.fixture()
def hf_spy(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    """Records the keyword arguments transformers is called with, and stops before reading weights."""
    import transformers

    calls: list[tuple[str, dict[str, Any]]] = []

    def spy(kind: str):
        def from_pretrained(location: str, *args: Any, **kwargs: Any) -> Any:
            calls.append((kind, kwargs))
            if kind == "model":
                raise _Stop
            return type("Tok", (), {"pad_token_id": 0})()

        return from_pretrained

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy("tokenizer"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy("model"))
    return calls


def test_trust_remote_code_is_off_unless_passed(hf_spy, tiny_dir):
    from pellucid.models import LM

    assert inspect.signature(LM.load).parameters["trust_remote_code"].default is False
    assert inspect.signature(load_weights).parameters["trust_remote_code"].default is False
    source = ModelSource("tiny", "folder", str(tiny_dir))
    with pytest.raises(_Stop):
        load_weights(source)
    assert [kw["trust_remote_code"] for _, kw in hf_spy] == [False, False]
    assert hf_spy[1][1]["use_safetensors"] is True
    hf_spy.clear()
    with pytest.raises(_Stop):
        load_weights(source, trust_remote_code=True)
    assert [kw["trust_remote_code"] for _, kw in hf_spy] == [True, True]


def _pickle_only(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    return folder


def test_pickle_weights_are_refused_unless_allowed(hf_spy, tmp_path):
    source = ModelSource("p", "folder", str(_pickle_only(tmp_path / "p")))
    with pytest.raises(ModelLoadError, match="pickle weights.*allow_pickle=True"):
        load_weights(source)
    assert hf_spy == []  # refused before transformers saw the folder
    with pytest.raises(_Stop):
        load_weights(source, allow_pickle=True)
    assert "use_safetensors" not in hf_spy[1][1]


def test_cli_and_server_never_pass_remote_code_or_pickle():
    """The only callers of LM.load in the server path use the defaults."""
    root = Path(__file__).resolve().parents[2] / "src" / "pellucid"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "trust_remote_code=True" in p.read_text()
        or "allow_pickle=True" in p.read_text().replace("``allow_pickle=True``", "")
    ]
    assert [o for o in offenders if not o.startswith("models/")] == []


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "bad id with spaces",
        "org/name/extra",
        "-leading-dash",
        "org//name",
        "name?rev=1",
        "a" * 300,
        "a\x00b",
        "b" * 5000,
        "ünï/cödé",
    ],
)
def test_malformed_ids_are_rejected_with_a_clear_error(tmp_path, name):
    with pytest.raises(ModelNotFoundError) as info:
        resolve(name, tmp_path / "models")
    message = str(info.value)
    assert "not a valid model name" in message or "does not exist" in message or "Bundled models" in message


def test_well_formed_hub_id_resolves_to_hub_offline(tmp_path):
    source = resolve("HuggingFaceTB/SmolLM2-135M", tmp_path / "models")
    assert source.kind == "hub"
