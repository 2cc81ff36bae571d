"""The workbench's TypeScript API types, generated from the app's OpenAPI document.

Every route declares a pydantic response model, so ``/api/openapi.json`` describes every answer.
This module builds the app in-process (no model is loaded, no store is opened), reads that
document and writes one TypeScript declaration per schema component to
``frontend/src/lib/api-types.generated.ts``: an ``interface`` per object, a ``type`` otherwise.
``frontend/src/lib/types.ts`` re-exports them, so the front end cannot drift from the API
without the type checker noticing.

The converter covers the JSON-schema subset pydantic emits: objects (required and optional
properties, ``additionalProperties``), arrays and tuples, ``enum`` / ``const`` literals,
``anyOf`` / ``oneOf`` unions, ``null``, ``$ref`` (recursive ones included) and ``{}`` (any
value: ``unknown``). Anything else raises :class:`ValueError` naming the schema, rather than
writing a type that says less than the API.

Run ``python -m pellucid.serve.api_types`` to rewrite the file, ``--check`` to only compare
(exit status 1 and a hint when it is out of date); ``scripts/build_frontend.sh`` does both.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

#: The generated file, relative to the repository root.
TARGET = Path("frontend/src/lib/api-types.generated.ts")
HEADER = (
    "// Generated from Pellucid's OpenAPI document by `python -m pellucid.serve.api_types`.\n"
    "// Do not edit: change the pydantic response models in src/pellucid/serve and regenerate\n"
    "// (scripts/build_frontend.sh does it before every build).\n"
)
_REF = "#/components/schemas/"
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of an app built with default settings, no model loaded and no store."""
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool
    from pellucid.settings import Settings

    settings = Settings()
    return create_app(settings, ModelPool(settings)).openapi()


def type_name(name: str) -> str:
    """A TypeScript identifier for a schema name (``Model-Input`` becomes ``ModelInput``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_$]", "", name)
    if not cleaned or not _IDENTIFIER.match(cleaned):
        raise ValueError(f"Schema name {name!r} gives no TypeScript identifier; rename the pydantic model.")
    return cleaned


def _union(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    if "unknown" in unique:
        return "unknown"
    return " | ".join(unique)


def _array_of(inner: str) -> str:
    return f"({inner})[]" if " " in inner and not inner.startswith("{") else f"{inner}[]"


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    raise ValueError(f"Literal {value!r} has no TypeScript form; use strings, numbers, booleans or null.")


def _property_key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _doc(schema: dict[str, Any], indent: str) -> str:
    text = (schema.get("description") or "").strip()
    if not text:
        return ""
    lines = text.replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} *{' ' + line if line.strip() else ''}\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _members(schema: dict[str, Any], indent: str) -> list[str]:
    """The lines of an object type's body: its properties, then an index signature if open."""
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        optional = "" if name in required else "?"
        lines.append(f"{_doc(prop, indent)}{indent}{_property_key(name)}{optional}: {ts_type(prop, indent)};")
    if schema.get("additionalProperties") not in (None, False):  # open: other keys may follow
        lines.append(f"{indent}[key: string]: unknown;")
    return lines


def _object(schema: dict[str, Any], indent: str) -> str:
    extra = schema.get("additionalProperties")
    if not schema.get("properties"):
        if isinstance(extra, dict) and extra:
            return f"Record<string, {ts_type(extra, indent)}>"
        return "Record<string, unknown>"
    inner = indent + "  "
    return "{\n" + "\n".join(_members(schema, inner)) + f"\n{indent}}}"


_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null"}


def ts_type(schema: dict[str, Any] | bool, indent: str = "") -> str:
    """The TypeScript type of one JSON schema (``indent``: of the line it appears on)."""
    if schema is True or schema == {}:
        return "unknown"
    if not isinstance(schema, dict):
        raise ValueError(f"Schema {schema!r} is not an object; the generator reads pydantic's JSON schema.")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith(_REF):
            raise ValueError(f"Reference {ref!r} is outside {_REF}; only component references are supported.")
        return type_name(ref.removeprefix(_REF))
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return _union([_literal(v) for v in schema["enum"]])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _union([ts_type(s, indent) for s in schema[key]])
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return ts_type(schema["allOf"][0], indent)
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([ts_type({**schema, "type": k}, indent) for k in kind])
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(ts_type(s, indent) for s in schema["prefixItems"]) + "]"
        return _array_of(ts_type(schema.get("items", {}), indent))
    if kind == "object":
        return _object(schema, indent)
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind is None and not set(schema) - {"title", "description", "default", "examples"}:
        return "unknown"  # pydantic's schema for Any, with a title or a description
    raise ValueError(f"Schema {json.dumps(schema)[:200]} is outside the supported subset (see the module docstring).")


def declaration(name: str, schema: dict[str, Any]) -> str:
    """``export interface`` for an object with properties, ``export type`` for anything else."""
    ident = type_name(name)
    doc = _doc(schema, "")
    if schema.get("type") == "object" and schema.get("properties"):
        body = "\n".join(_members(schema, "  "))
        return f"{doc}export interface {ident} {{\n{body}\n}}\n"
    return f"{doc}export type {ident} = {ts_type(schema)};\n"


def render(document: dict[str, Any]) -> str:
    """The generated TypeScript module for an OpenAPI document (schemas in name order)."""
    schemas = document.get("components", {}).get("schemas", {})
    parts = [HEADER]
    for name in sorted(schemas):
        parts.append(declaration(name, schemas[name]))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` only compare) the generated file; exit status 1 when stale."""
    parser = argparse.ArgumentParser(prog="python -m pellucid.serve.api_types", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when the file is out of date")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: the current folder)")
    args = parser.parse_args(argv)
    path = args.root / TARGET
    if not path.parent.is_dir():
        parser.error(f"{path.parent} does not exist; run from the repository root or pass --root.")
    text = render(openapi_document())
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if args.check:
        if current != text:
            print(
                f"{TARGET} is out of date with the API's response models; regenerate it with "
                "`python -m pellucid.serve.api_types` (or scripts/build_frontend.sh) and commit it.",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        path.write_text(text, encoding="utf-8")
        print(f"Wrote {TARGET}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
