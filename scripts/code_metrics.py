"""Count the size figures of docs/architecture.md's "Size and repetition" table.

Three counts over the Python files of a source tree (default: ``src/pellucid``), read as syntax
trees, never imported:

- **long functions**: every ``def`` / ``async def`` (methods and nested functions included) longer
  than ``--max-function`` lines, counted from the ``def`` line to its last line, docstring
  included and decorators not;
- **long modules**: files longer than ``--max-module`` lines (every line counts);
- **``Any`` annotations**: parameter, return and variable annotations that name ``Any``
  (``Any``, ``typing.Any`` or inside a subscript such as ``dict[str, Any]``), each counted once.

``python scripts/code_metrics.py`` prints the counts and lists the long functions and modules;
``--json`` prints the same as one JSON object. ``tests/unit/test_code_size.py`` uses
:func:`measure` to fail on a long function or module outside its allow-list.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_FUNCTION_LINES = 50
MAX_MODULE_LINES = 400
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "src" / "pellucid"


@dataclass(frozen=True)
class LongFunction:
    """A function over the limit: where it is (``path`` relative to the root) and its length."""

    path: str
    qualname: str
    line: int
    lines: int

    @property
    def name(self) -> str:
        """``path::qualname``, the key an allow-list names it by."""
        return f"{self.path}::{self.qualname}"


@dataclass
class Metrics:
    """The counts over one tree; ``long_modules`` maps a relative path to its line count."""

    files: int = 0
    long_functions: list[LongFunction] = field(default_factory=list)
    long_modules: dict[str, int] = field(default_factory=dict)
    any_annotations: int = 0

    def to_dict(self) -> dict[str, object]:
        """The counts and the lists, as plain JSON-ready data."""
        return {
            "files": self.files,
            "functions_over_limit": len(self.long_functions),
            "modules_over_limit": len(self.long_modules),
            "any_annotations": self.any_annotations,
            "long_functions": {f.name: f.lines for f in self.long_functions},
            "long_modules": self.long_modules,
        }


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function under ``tree`` with its dotted name (``Class.method``, ``outer.inner``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def _names_any(annotation: ast.expr | None) -> bool:
    """Whether an annotation mentions ``Any`` (a bare name, ``typing.Any`` or a string annotation)."""
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Any":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                if _names_any(ast.parse(node.value, mode="eval").body):
                    return True
            except SyntaxError:
                continue
    return False


def _annotations(tree: ast.AST) -> Iterator[ast.expr | None]:
    """Every annotation in ``tree``: parameters, returns and annotated assignments."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    yield arg.annotation
            yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation


def measure(
    root: Path = DEFAULT_ROOT, max_function: int = MAX_FUNCTION_LINES, max_module: int = MAX_MODULE_LINES
) -> Metrics:
    """Read every ``*.py`` file under ``root`` and count what is over the limits."""
    metrics = Metrics()
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(text, filename=str(path))
        metrics.files += 1
        n_lines = len(text.splitlines())
        if n_lines > max_module:
            metrics.long_modules[rel] = n_lines
        for qualname, node in _functions(tree):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > max_function:
                metrics.long_functions.append(LongFunction(rel, qualname, node.lineno, length))
        metrics.any_annotations += sum(_names_any(a) for a in _annotations(tree))
    return metrics


def _report(metrics: Metrics, max_function: int, max_module: int) -> str:
    """The counts, then the long functions (longest first) and the long modules."""
    lines = [
        f"files: {metrics.files}",
        f"functions > {max_function} lines: {len(metrics.long_functions)}",
        f"modules > {max_module} lines: {len(metrics.long_modules)}",
        f"annotations using Any: {metrics.any_annotations}",
    ]
    for fn in sorted(metrics.long_functions, key=lambda f: -f.lines):
        lines.append(f"  {fn.lines:4d}  {fn.path}:{fn.line}  {fn.qualname}")
    for rel, n in sorted(metrics.long_modules.items(), key=lambda item: -item[1]):
        lines.append(f"  {n:4d}  {rel}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT, help="the source tree to read")
    parser.add_argument("--max-function", type=int, default=MAX_FUNCTION_LINES, help="longest allowed function")
    parser.add_argument("--max-module", type=int, default=MAX_MODULE_LINES, help="longest allowed module")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"root {str(args.root)!r} is not a folder; give the package folder, e.g. src/pellucid")
    metrics = measure(args.root, args.max_function, args.max_module)
    if args.json:
        print(json.dumps(metrics.to_dict(), indent=2))
    else:
        print(_report(metrics, args.max_function, args.max_module))
    return 0


if __name__ == "__main__":
    sys.exit(main())
