"""The import layers of docs/architecture.md, as data, checked over every module's syntax tree.

Imports only go down::

    cli  serve                 entry points: parse, call the service, render (never the model)
      |
    service  batch             one function per user verb; data-set jobs
      |
    attribution inspect counterfactual audit   |   monitor (plain data: no model, no method)
      |
    models                     the only code that knows Hugging Face internals
      |
    types errors settings spec render

Every ``import`` counts: at module level, inside functions (lazy imports) and inside ``try``
blocks. Imports under ``if TYPE_CHECKING:`` create no runtime dependency; they may reach only
the extra packages listed in :data:`TYPE_ONLY` (annotations that name ``LM``). ``render`` sits
beside ``types``: it draws an ``Explanation`` and imports nothing but plain data, and
``Explanation._repr_html_`` imports it lazily (:data:`LAZY_ONLY`) so notebooks render results
without ``types`` depending on ``render`` at import time.

A violation names the module, the line and the import. Code that breaks a rule and cannot be
fixed yet is listed in :data:`KNOWN_VIOLATIONS` with the reason; an entry that no longer matches
anything fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "pellucid"

#: Plain data at the bottom: every package may import these.
BOTTOM = frozenset({"types", "errors", "settings", "spec", "inspect_specs", "render"})
#: The method packages: pure computations on a model.
METHODS = frozenset({"attribution", "inspect", "counterfactual", "audit", "features"})

#: package -> the other packages its modules may import (its own is always allowed). A package
#: missing here fails the test: place it in a layer first. ``pellucid`` is the root module (the
#: ``import pellucid as pl`` convenience API), ``__main__`` the ``python -m pellucid`` entry.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "settings": frozenset({"errors"}),
    "spec": frozenset({"errors"}),
    # the inspect verbs' parameters, beside (not inside) pellucid.inspect, whose __init__ loads torch
    "inspect_specs": frozenset({"spec", "errors"}),
    "types": frozenset({"errors"}),
    "render": frozenset({"types", "errors"}),
    "models": BOTTOM,
    "attribution": BOTTOM | {"models"},
    "inspect": BOTTOM | {"models"},
    # sparse dictionaries: trained on activations read through inspect's helpers
    "features": BOTTOM | {"models", "inspect"},
    "counterfactual": BOTTOM | {"models", "attribution"},
    "audit": BOTTOM | {"models", "attribution", "counterfactual"},
    "monitor": BOTTOM - {"render"},
    "service": BOTTOM | METHODS | {"models", "monitor"},
    "batch": BOTTOM | METHODS | {"models", "monitor", "service", "pellucid"},
    "serve": BOTTOM | METHODS | {"monitor", "service", "pellucid"},
    "cli": BOTTOM | METHODS | {"monitor", "service", "batch", "serve", "pellucid"},
    "pellucid": BOTTOM | {"models", "attribution"},
    "__main__": frozenset({"cli"}),
}

#: Extra packages reachable only under ``if TYPE_CHECKING:`` (type annotations, no runtime import).
TYPE_ONLY: dict[str, frozenset[str]] = {
    "cli": frozenset({"models"}),
    "serve": frozenset({"models"}),
}

#: Extra packages reachable only inside a function (a lazy import), never at module level.
LAZY_ONLY: dict[str, frozenset[str]] = {
    "types": frozenset({"render"}),
}

#: Third-party libraries that mean "a model runs here".
MODEL_LIBRARIES = frozenset({"torch", "transformers", "accelerate", "safetensors", "tokenizers", "captum", "gguf"})
#: Packages that must never import them, lazily or not (monitor is plain data; entry points and
#: results hand every model to the service).
MODEL_FREE = frozenset({"monitor", "types", "errors", "settings", "spec", "inspect_specs", "render", "cli", "serve"})

#: (module, imported module) pairs that break a rule today, each with the reason and the fix.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    # Explanation.faithfulness(lm) is a convenience on the result type that runs the attribution
    # method; it belongs in pellucid.service.faithfulness once the public API may change.
    ("pellucid.types", "pellucid.attribution.faithfulness"): "types calls a method",
}


@dataclass(frozen=True)
class Import:
    """One import statement's target as seen by the rules."""

    module: str  # the importing module, e.g. pellucid.monitor.enrich
    line: int
    target: str  # the imported module, e.g. pellucid.models or torch
    type_only: bool  # under `if TYPE_CHECKING:`
    lazy: bool  # inside a function


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def package_of(module: str) -> str:
    """``pellucid.monitor.enrich`` -> ``monitor``; ``pellucid`` -> ``pellucid``; ``torch.nn`` -> ``torch``."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return parts[0]
    return parts[1] if len(parts) > 1 else ROOT


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads: ``from a import b`` is ``a.b`` when that is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _resolve(module, node)
    out = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return out or [base]


def imports_of(module: str, source: str | None = None) -> list[Import]:
    """Every import in ``module`` (or in ``source`` as if it were that module), at any depth, with
    whether it is type-only and whether it is lazy."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8") if source is None else source)
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool, lazy: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend(Import(module, node.lineno, t, type_only, lazy) for t in _targets(module, node))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True, lazy)
            for child in node.orelse:
                visit(child, type_only, lazy)
            return
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only, inner)

    visit(tree, False, False)
    return found


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks a layer rule, or ``None``."""
    source, target = package_of(imp.module), package_of(imp.target)
    if target in MODEL_LIBRARIES:
        if source in MODEL_FREE and not imp.type_only:
            return f"{source} never runs a model, so it may not import {target}"
        return None
    if not imp.target.startswith(ROOT) or target == source:
        return None
    allowed = MAY_IMPORT[source]
    if imp.type_only:
        allowed = allowed | TYPE_ONLY.get(source, frozenset())
    if imp.lazy:
        allowed = allowed | LAZY_ONLY.get(source, frozenset())
    if target in allowed:
        return None
    if target in TYPE_ONLY.get(source, ()):
        return f"{source} may import {target} only under TYPE_CHECKING (annotations); the service supplies it"
    if target in LAZY_ONLY.get(source, ()):
        return f"{source} may import {target} only inside a function"
    return f"{source} may import only {', '.join(sorted(allowed))}, not {target}"


def all_imports() -> list[Import]:
    return [imp for module in MODULES for imp in imports_of(module)]


def test_every_package_has_a_layer() -> None:
    missing = sorted({package_of(m) for m in MODULES} - set(MAY_IMPORT))
    assert not missing, f"Place these packages in MAY_IMPORT (tests/unit/test_layers.py): {missing}"


def test_imports_only_go_down() -> None:
    problems = []
    matched: set[tuple[str, str]] = set()
    for imp in all_imports():
        why = violation(imp)
        if why is None:
            continue
        key = (imp.module, imp.target)
        if key in KNOWN_VIOLATIONS:
            matched.add(key)
            continue
        kind = "type-only " if imp.type_only else "lazy " if imp.lazy else ""
        problems.append(f"{MODULES[imp.module].relative_to(SRC.parent)}:{imp.line}: {kind}import {imp.target}: {why}")
    stale = sorted(set(KNOWN_VIOLATIONS) - matched)
    assert not problems, "Imports that break the layers of docs/architecture.md:\n" + "\n".join(problems)
    assert not stale, f"Fixed at last: remove these entries from KNOWN_VIOLATIONS: {stale}"


def test_the_rules_catch_what_they_should() -> None:
    """The checker itself: lazy, relative and type-only imports are seen and judged."""

    def judged(module: str, target: str, *, type_only: bool = False, lazy: bool = False) -> str | None:
        return violation(Import(module, 1, target, type_only, lazy))

    assert "monitor never runs a model" in str(judged("pellucid.monitor.enrich", "torch", lazy=True))
    assert "not models" in str(judged("pellucid.monitor.enrich", "pellucid.models", lazy=True))
    assert "not service" in str(judged("pellucid.monitor.enrich", "pellucid.service", type_only=True))
    assert "not audit" in str(judged("pellucid.monitor.enrich", "pellucid.audit.pii", lazy=True))
    assert "not serve" in str(judged("pellucid.models.lm", "pellucid.serve.app", lazy=True))
    assert "not monitor" in str(judged("pellucid.audit.runner", "pellucid.monitor.store", lazy=True))
    assert "only under TYPE_CHECKING" in str(judged("pellucid.cli.common", "pellucid.models"))
    assert judged("pellucid.cli.common", "pellucid.models", type_only=True) is None
    assert "only inside a function" in str(judged("pellucid.types", "pellucid.render.html"))
    assert judged("pellucid.types", "pellucid.render.html", lazy=True) is None
    assert judged("pellucid.service.drift", "pellucid.monitor.drift_run") is None
    source = """
from typing import TYPE_CHECKING
from . import sql
from .store import Store
if TYPE_CHECKING:
    from pellucid.models import LM
def embed():
    try:
        import torch.nn
    except ImportError:
        pass
"""
    found = {i.target: (i.line, i.type_only, i.lazy) for i in imports_of("pellucid.monitor.enrich", source)}
    assert found["pellucid.monitor.sql"] == (3, False, False)
    assert found["pellucid.monitor.store"] == (4, False, False)
    assert found["pellucid.models"] == (6, True, False)
    assert found["torch.nn"] == (9, False, True)


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env(), timeout=120
    )
    return set(out.stdout.split())


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


#: What importing the monitoring package must not load: model code, methods, the layers above.
NOT_BELOW_MONITOR = tuple(f"pellucid.{p}" for p in ("models", *sorted(METHODS), "service", "batch", "serve", "cli"))


@pytest.mark.parametrize(
    "statement",
    [
        "import pellucid.monitor",
        # every module of the package (the migrations' env.py runs only under Alembic)
        "import pkgutil, importlib, pellucid.monitor as m; [importlib.import_module(i.name) for i in "
        "pkgutil.walk_packages(m.__path__, 'pellucid.monitor.') if '.migrations' not in i.name]",
    ],
    ids=["package", "every-module"],
)
def test_importing_monitor_loads_no_model_code(statement: str) -> None:
    loaded = _imported_after(statement)
    assert "pellucid.monitor.enrich" in loaded or statement == "import pellucid.monitor"
    assert not [m for m in loaded if m.split(".")[0] in MODEL_LIBRARIES or m.startswith(NOT_BELOW_MONITOR)]


def test_importing_the_service_loads_no_model() -> None:
    loaded = _imported_after("import pellucid.service")
    assert "pellucid.service.pool" in loaded
    assert not [m for m in loaded if m.split(".")[0] in MODEL_LIBRARIES or m.startswith("pellucid.models")]
