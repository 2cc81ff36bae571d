"""Find and load model weights: bundled names, GGUF files, local folders and hub ids.

GGUF files are de-quantized by ``transformers`` + ``gguf`` once (~15 s for SmolLM2) and the
result is written as a plain safetensors folder under ``<home>/models/<name>``; later loads
read that folder (under a second). The conversion is written to a temporary folder and
renamed into place, so an interrupted conversion never leaves a half-written cache.

Safety: ``trust_remote_code`` stays off unless the caller asks, and pickle weights
(``.bin``/``.pt``) are refused unless ``allow_pickle=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pellucid.errors import ModelLoadError, ModelNotFoundError
from pellucid.models.registry import BUNDLED, bundled_names

log = logging.getLogger(__name__)

SourceKind = Literal["gguf", "folder", "hub"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[A-Za-z0-9][\w.\-]{0,95})?$")
_MARKER = "pellucid-source.json"
_SAFE_WEIGHTS = ("*.safetensors",)
_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights come from, resolved from what the user typed."""

    name: str
    kind: SourceKind
    location: str
    cache_dir: Path | None = None  # for GGUF: where the converted copy lives

    @property
    def is_converted(self) -> bool:
        return self.cache_dir is not None and _cache_valid(self.cache_dir, Path(self.location))


def resolve(name_or_path: str, models_dir: Path, kind: str = "causal_lm") -> ModelSource:
    """Turn a bundled name, a path (folder or ``.gguf``) or a hub id into a :class:`ModelSource`."""
    text = str(name_or_path).strip()
    if not text:
        raise ModelNotFoundError(_not_found_message("''", kind))
    if text in BUNDLED:
        bundled = BUNDLED[text]
        if bundled.kind != kind:
            raise ModelNotFoundError(
                f"{text!r} is a bundled {bundled.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}; "
                f"bundled {kind.replace('_', ' ')} models: {', '.join(bundled_names(kind)) or 'none'}."
            )
        location = bundled.locate()
        if location.suffix == ".gguf":
            return ModelSource(text, "gguf", str(location), models_dir / text)
        return ModelSource(text, "folder", str(location))
    if len(text) > 4096 or "\x00" in text:
        raise ModelNotFoundError(
            f"{text[:60]!r}... is not a valid model name, path or hub id (too long, or a NUL byte)."
        )
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file {str(path)!r} does not exist; check the path.")
        digest = hashlib.sha1(f"{path.resolve()}:{path.stat().st_size}".encode()).hexdigest()[:10]
        return ModelSource(path.stem, "gguf", str(path.resolve()), models_dir / f"gguf-{path.stem}-{digest}")
    try:
        exists = path.exists()
    except OSError:  # a name longer than the file system allows, for example: not a path then
        exists = False
    if exists:
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{str(path)!r} is a file but not a .gguf; pass a model folder (config.json + weights) or a .gguf file."
            )
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").exists() and ggufs:
            return resolve(str(ggufs[0]), models_dir, kind)
        return ModelSource(path.name, "folder", str(path.resolve()))
    if text.startswith((".", "/", "~")) or os.sep in text.strip("/").replace("/", "", 1):
        raise ModelNotFoundError(f"Model folder {text!r} does not exist. {_not_found_message(text, kind)}")
    if not _HUB_ID.match(text):
        raise ModelNotFoundError(f"{text!r} is not a valid model name or hub id. {_not_found_message(text, kind)}")
    return ModelSource(text, "hub", text)


def _not_found_message(text: str, kind: str) -> str:
    names = ", ".join(bundled_names(kind))
    return (
        f"Bundled models: {names}. Otherwise pass a local folder with config.json and weights, "
        "a .gguf file, or a Hugging Face hub id already in the local cache (offline)."
    )


def check_folder(folder: Path, allow_pickle: bool) -> None:
    """A local model folder must have a config and weights we are allowed to read."""
    if not (folder / "config.json").exists():
        raise ModelNotFoundError(
            f"Folder {str(folder)!r} has no config.json; pass a Hugging Face model folder or a .gguf file."
        )
    safe = [p for g in _SAFE_WEIGHTS for p in folder.glob(g)]
    pickled = [p for g in _PICKLE_WEIGHTS for p in folder.glob(g)]
    if not safe and not pickled:
        raise ModelNotFoundError(
            f"Folder {str(folder)!r} has no model weights (expected *.safetensors); "
            "save the model with save_pretrained() or pass a .gguf file."
        )
    if not safe and not allow_pickle:
        raise ModelLoadError(
            f"Folder {str(folder)!r} has only pickle weights ({pickled[0].name}), which can run arbitrary code "
            "when loaded. Convert them to safetensors, or pass allow_pickle=True (--allow-pickle) if you trust them."
        )


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and advisory warnings (Pellucid reports its own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- GGUF conversion cache ------------------------------------------------------------------


def _fingerprint(source: Path) -> dict[str, Any]:
    stat = source.stat()
    return {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _cache_valid(cache_dir: Path, source: Path) -> bool:
    marker = cache_dir / _MARKER
    if not marker.exists() or not source.exists():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded.get("size") == source.stat().st_size and (cache_dir / "model.safetensors").exists())


def convert_gguf(source: Path, cache_dir: Path) -> Path:
    """De-quantize a GGUF file into a safetensors folder (done once; returns the folder)."""
    if _cache_valid(cache_dir, source):
        return cache_dir
    import safetensors.torch
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to safetensors in %s (once)", source, cache_dir)
    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many types for a bad file
        raise ModelLoadError(
            f"Could not read GGUF file {str(source)!r}: {type(exc).__name__}: {exc}. "
            "Is the file complete and a supported architecture (llama, mistral, qwen2, gpt2...)?"
        ) from exc
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir.with_name(f"{cache_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config["dtype"] = "float32"
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        model.generation_config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / _MARKER).write_text(json.dumps(_fingerprint(source)))
        shutil.rmtree(cache_dir, ignore_errors=True)
        tmp.rename(cache_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache_dir


def _weights_location(source: ModelSource, allow_pickle: bool) -> str:
    """Where ``from_pretrained`` reads: a GGUF file's de-quantized folder (converted once), a checked
    local folder, or the hub id."""
    if source.kind == "gguf":
        assert source.cache_dir is not None
        return str(convert_gguf(Path(source.location), source.cache_dir))
    if source.kind == "folder":
        check_folder(Path(source.location), allow_pickle)
    return source.location


def _source_options(revision: str | None, local_only: bool, allow_pickle: bool) -> dict[str, Any]:
    """``from_pretrained`` options for where the weights may come from: a revision, the local cache
    only, and safetensors only unless pickled weights are allowed."""
    options: dict[str, Any] = {}
    if revision:
        options["revision"] = revision
    if local_only:
        options["local_files_only"] = True
    if not allow_pickle:
        options["use_safetensors"] = True
    return options


def load_weights(
    source: ModelSource,
    *,
    dtype: str = "float32",
    attn_implementation: str = "eager",
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    revision: str | None = None,
    offline: bool = True,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for a causal LM source, in eval mode.

    With ``offline=True`` a hub id is read from the local Hugging Face cache only, so a
    missing model fails at once instead of retrying a network that is not there.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelLoadError(f"Unknown dtype {dtype!r}; use float32, bfloat16 or float16.")
    location = _weights_location(source, allow_pickle)
    local_only = offline and source.kind == "hub"
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "attn_implementation": attn_implementation,
        "trust_remote_code": trust_remote_code,
        **_source_options(revision, local_only, allow_pickle),
    }
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            location, trust_remote_code=trust_remote_code, local_files_only=local_only
        )
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    except OSError as exc:
        if source.kind == "hub":
            where = "the local Hugging Face cache (offline mode)" if local_only else "the hub or its local cache"
            hint = " Set PELLUCID_OFFLINE=0 to allow downloads." if local_only else ""
            raise ModelNotFoundError(
                f"Model {source.location!r} is not in {where}.{hint} {_not_found_message(source.location, 'causal_lm')}"
            ) from exc
        raise ModelLoadError(f"Could not load model from {location!r}: {exc}") from exc
    except ValueError as exc:
        raise ModelLoadError(f"Could not load model from {location!r}: {exc}") from exc
    model.eval()
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
