"""Pydantic request models generated from :class:`~pellucid.spec.Param` declarations.

One field per parameter, with the library's default, its range (``ge``/``le``), its choices
(a ``Literal``), its help as the description and its form widget in the JSON schema::

    PatchRequest = request_model("PatchRequest", VERBS["patch"].spec.params, base=_Base,
                                 doc="Activation patching...", inputs={"clean": (Prompt, "The...")})

A malformed body is refused by the model (422, naming each bad field) before the verb runs;
the service then resolves the same values with the spec, so the API accepts what the library
and the CLI accept, within the server's resource bounds (``Param.api_max``). A required
parameter with an ``example`` defaults to it here, so a form pre-fills it and a bare request
still runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from pellucid.spec import Param

_SCALARS: dict[str, Any] = {
    "int": int,
    "float": Annotated[float, Field(allow_inf_nan=False)],
    "str": str,
    "bool": bool,
}


def field_type(param: Param) -> Any:
    """The annotation of ``param``'s field: its scalar (a ``Literal`` of the choices), a list, ``| None``."""
    scalar: Any = Literal[param.choices] if param.choices else _SCALARS[param.scalar]  # type: ignore[valid-type]
    base = list[scalar] if param.type.endswith("_list") else scalar  # type: ignore[valid-type]
    return base | None if param.nullable else base


def field(param: Param) -> tuple[Any, Any]:
    """``(annotation, FieldInfo)`` for :func:`pydantic.create_model`."""
    default = param.example if param.required else param.default
    if isinstance(default, tuple):
        default = list(default)
    scalar_number = param.scalar in ("int", "float") and not param.type.endswith("_list")
    bounds = [b for b in (param.max, param.api_max) if b is not None]
    info = Field(
        ... if param.required and param.example is None else default,
        description=param.help,
        ge=param.min if scalar_number else None,
        le=min(bounds) if scalar_number and bounds else None,
        min_length=1 if param.required and param.type == "str" else None,
        json_schema_extra={"widget": param.widget} if param.widget else None,
    )
    return field_type(param), info


def request_model(
    name: str,
    params: Iterable[Param],
    *,
    base: type[BaseModel],
    doc: str,
    inputs: dict[str, tuple[Any, Any]] | None = None,
) -> type[BaseModel]:
    """A model ``name`` (subclass of ``base``): ``inputs`` fields first, then one per API parameter."""
    fields: dict[str, Any] = dict(inputs or {})
    fields.update({p.name: field(p) for p in params if p.api})
    return create_model(name, __base__=base, __doc__=doc, __module__=base.__module__, **fields)
