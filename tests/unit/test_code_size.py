"""Size limits of the source: no function over 50 lines, no module over 400 (docs/architecture.md).

The counts come from ``scripts/code_metrics.py`` (the script that reproduces the "Size and
repetition" table), reading the syntax tree of every module under ``src/pellucid``. A function
is measured from its ``def`` line to its last line, docstring included. Nothing is over a limit
today: an entry added to the lists below needs its written reason, and an entry that no longer
matches fails too, so the lists only shrink.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]

#: ``path::qualname`` (relative to src/pellucid) → why it may exceed the function limit.
LONG_FUNCTIONS: dict[str, str] = {}

#: Module path (relative to src/pellucid) → why it may exceed the module limit.
LONG_MODULES: dict[str, str] = {}


def _code_metrics() -> ModuleType:
    """``scripts/code_metrics.py``, imported from its file (``scripts/`` is not a package)."""
    path = ROOT / "scripts" / "code_metrics.py"
    spec = importlib.util.spec_from_file_location("code_metrics", path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules["code_metrics"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


CODE_METRICS = _code_metrics()
METRICS = CODE_METRICS.measure(ROOT / "src" / "pellucid")


def test_no_new_long_function() -> None:
    new = {f.name: f.lines for f in METRICS.long_functions if f.name not in LONG_FUNCTIONS}
    assert not new, (
        f"Functions over 50 lines (def to last line): {new}. Split them into steps whose names say "
        "what each does (or, for a real reason, add them to LONG_FUNCTIONS with that reason)."
    )


def test_no_new_long_module() -> None:
    new = {path: n for path, n in METRICS.long_modules.items() if path not in LONG_MODULES}
    assert not new, (
        f"Modules over 400 lines: {new}. Move a concern into a sibling module "
        "(or, for a real reason, add them to LONG_MODULES with that reason)."
    )


def test_allow_lists_only_name_what_is_still_long() -> None:
    long_functions = {f.name for f in METRICS.long_functions}
    stale = sorted(set(LONG_FUNCTIONS) - long_functions) + sorted(set(LONG_MODULES) - set(METRICS.long_modules))
    assert not stale, f"{stale} are no longer over the limit (or no longer exist): remove them from the allow-lists."


def test_the_measure_counts_from_def_to_last_line(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(48))
    (tmp_path / "short.py").write_text(f'def fits():\n    """Doc."""\n{body}\n')  # 50 lines
    (tmp_path / "long.py").write_text(f'@decorated\ndef too_long():\n    """Doc."""\n{body}\n    return x0\n')
    (tmp_path / "typed.py").write_text("from typing import Any\n\ndef f(a: Any, b: 'dict[str, Any]') -> int: ...\n")
    metrics = CODE_METRICS.measure(tmp_path, max_function=50, max_module=51)
    assert [(f.name, f.lines) for f in metrics.long_functions] == [("long.py::too_long", 51)]
    assert metrics.long_modules == {"long.py": 52}
    assert metrics.any_annotations == 2
