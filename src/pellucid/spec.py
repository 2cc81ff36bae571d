"""Parameters declared once: what they are, how to check them, how to show them.

A :class:`Param` describes one user-facing parameter: its name, type, default, choices or
range, help text, and how a form or a command line shows it. A :class:`Spec` is an ordered
set of them with one :meth:`Spec.resolve` that every entry point goes through. The CLI hands
it strings (``-p steps=32``, ``--layers 0-5``), the API hands it JSON values, the library its
keyword arguments; each comes back typed with the defaults filled in, or is refused with a
message that names the bad value, what is allowed and how to fix it::

    spec = Spec("occlusion", (Param("span", "int", 1, "Features occluded together.", min=1),))
    spec.resolve({"span": "3"})     # {"span": 3}
    spec.resolve({})                # {"span": 1}
    spec.resolve({"spam": 3})       # InvalidInputError: 'occlusion' has no parameter 'spam'; its parameters: span.

The command-line options (:mod:`pellucid.cli.spec_options`) and the API request models
(:mod:`pellucid.serve.spec_models`) are generated from the same declarations, and the web
forms read :meth:`Param.to_dict`, so the library, the CLI, the API and the forms cannot
disagree on a default or a range.

This module imports only the standard library and :mod:`pellucid.errors`: declaring
parameters never loads torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pellucid.errors import InvalidInputError

#: the value types a parameter can have (``*_list``: a list of that scalar type)
TYPES = ("int", "float", "str", "bool", "int_list", "float_list", "str_list")
#: how a form shows a text: ``text`` (a text area) or ``lines`` (one item per line)
WIDGETS = ("text", "lines")

_TRUE = ("true", "1", "yes", "on", "y", "t")
_FALSE = ("false", "0", "no", "off", "n", "f")
_INT, _RANGE = re.compile(r"[+-]?\d+"), re.compile(r"(\d+)-(\d+)")


class _Bad(Exception):
    """A value that cannot be converted to the parameter's type (turned into a clear message)."""


def parse_int_list(text: str, name: str = "layers") -> list[int] | None:
    """``'0,3-5,-1'`` -> ``[0, 3, 4, 5, -1]``; ``''`` or ``'all'`` -> ``None`` (all)."""
    if text.strip().lower() in ("", "all"):
        return None
    out: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if _INT.fullmatch(part):
            out.append(int(part))
        elif (m := _RANGE.fullmatch(part)) and int(m.group(1)) <= int(m.group(2)):
            out.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        else:
            raise InvalidInputError(f"{name}={text!r}: {part!r} is not a number or a range like '0-11'.")
    return out


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _Bad from None
    raise _Bad


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Bad from None
    raise _Bad


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Bad


_SCALARS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str}


def _number(x: float) -> str:
    return format(x, "g") if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Param:
    """One user-facing parameter, described for validation, help texts, forms and options.

    Attributes:
        name: the keyword the library function takes (``top_k``).
        type: one of :data:`TYPES`.
        default: the library's default; ``None`` (when not ``required``) means "optional".
        help: one sentence for ``--help``, the API schema and the form.
        choices: the allowed values of a ``str`` parameter.
        min, max: the inclusive range of a number (of each item, for number lists).
        required: the caller must give a value (the library has no default).
        example: a value for a required parameter that a form pre-fills (the API's default).
        widget: how a form shows a text (:data:`WIDGETS`); ``None``: a one-line field.
        cli: the flag names of the generated command-line option, e.g. ``("--target", "-t")``,
            ``("--align",)`` (a flag that only turns on) or ``("--compare/--no-compare",)``;
            ``()`` derives ``--top-k`` from ``top_k``; ``None`` generates no option (the command
            declares its own, or the value is not offered on the command line).
        api: whether the generated API request model offers it.
        api_max: a bound the API request model adds to ``max`` (a server's resource limit, e.g.
            at most 100 noise samples per request; the library and the CLI take more).
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False
    example: Any = None
    widget: str | None = None
    cli: tuple[str, ...] | None = ()
    api: bool = True
    api_max: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"Param {self.name!r} has type {self.type!r}; use one of {', '.join(TYPES)}.")
        if self.required and self.default is not None:
            raise ValueError(f"Param {self.name!r} is required, so it has no default (got {self.default!r}).")
        if self.widget is not None and self.widget not in WIDGETS:
            raise ValueError(f"Param {self.name!r} has widget {self.widget!r}; use one of {', '.join(WIDGETS)}.")

    @property
    def nullable(self) -> bool:
        """``None`` is a valid value (it means "the library decides", e.g. all layers)."""
        return self.default is None and not self.required

    @property
    def scalar(self) -> str:
        """The type of the value, or of each item of a list (``int`` for ``int_list``)."""
        return self.type.removesuffix("_list")

    def to_dict(self) -> dict[str, Any]:
        """The description the web forms read (``GET /api/methods``, ``/api/audit/checks``...)."""
        default = list(self.default) if isinstance(self.default, tuple) else self.default
        return {
            "name": self.name,
            "type": self.type,
            "default": default,
            "help": self.help,
            "choices": list(self.choices) if self.choices else None,
            "min": self.min,
            "max": self.max,
            "required": self.required,
            "widget": self.widget,
        }

    def coerce(self, value: Any, owner: str = "", noun: str = "parameter") -> Any:
        """Convert and check one given value (a CLI string or a JSON value); raise a clear error."""
        if self.nullable and (value is None or value == "" or self._says_none(value)):
            return None
        if self.type.endswith("_list"):
            items = self._items(value, owner)
            if items is None:  # "all"
                return None if self.nullable else []
            return [self._check(self._convert(item, owner, noun), owner, noun) for item in items]
        return self._check(self._convert(value, owner, noun), owner, noun)

    def _says_none(self, value: Any) -> bool:
        return self.type != "str" and isinstance(value, str) and value.strip().lower() in ("none", "null")

    def _items(self, value: Any, owner: str) -> list[Any] | None:
        if isinstance(value, str):
            if self.type == "int_list":
                return parse_int_list(value, f"{owner}: {self.name}" if owner else self.name)
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return list(value)
        return [value]

    def _convert(self, value: Any, owner: str, noun: str) -> Any:
        try:
            return _SCALARS[self.scalar](value)
        except _Bad:
            accepted = " (true/false, yes/no, on/off or 1/0)" if self.scalar == "bool" else ""
            raise InvalidInputError(
                f"{self._where(owner, noun)} {self.name}={value!r} must be of type {self.scalar}{accepted}; "
                f"give e.g. {self.name}={self._hint()}."
            ) from None

    def _check(self, value: Any, owner: str, noun: str) -> Any:
        where = self._where(owner, noun)
        if self.choices and value not in self.choices:
            of = f" for {owner[:1].lower()}{owner[1:]}" if owner else ""
            raise InvalidInputError(f"Unknown {self.name} {value!r}{of}; choose one of {', '.join(self.choices)}.")
        if self.required and value == "":
            raise InvalidInputError(f"{where} {self.name} is empty; give e.g. {self.name}={self._hint()!r}.")
        if isinstance(value, float) and not math.isfinite(value):
            allowed = f" {self._range()}" if self._range() else ""
            raise InvalidInputError(
                f"{where} {self.name}={value!r} must be a finite number{allowed}; give e.g. {self.name}={self._hint()}."
            )
        if self.min is not None and isinstance(value, int | float) and value < self.min:
            raise InvalidInputError(f"{where} {self.name}={value!r} is below its minimum {_number(self.min)}; "
                                    f"give a value {self._range()}.")  # fmt: skip
        if self.max is not None and isinstance(value, int | float) and value > self.max:
            raise InvalidInputError(f"{where} {self.name}={value!r} is above its maximum {_number(self.max)}; "
                                    f"give a value {self._range()}.")  # fmt: skip
        return value

    def _where(self, owner: str, noun: str) -> str:
        return f"{owner}: {noun}" if owner else noun.capitalize()

    def _range(self) -> str:
        if self.min is not None and self.max is not None:
            return f"from {_number(self.min)} to {_number(self.max)}"
        if self.min is not None:
            return f"of at least {_number(self.min)}"
        if self.max is not None:
            return f"of at most {_number(self.max)}"
        return ""

    def _hint(self) -> str:
        sample = self.example if self.required else self.default
        if isinstance(sample, list | tuple):
            sample = ",".join(str(s) for s in sample)
        if sample is None or sample == "":
            sample = {"int": 1, "float": 0.5, "bool": "true", "str": "text"}[self.scalar]
        if self.min is not None and isinstance(sample, int | float) and not isinstance(sample, bool):
            sample = max(sample, self.min)
        return str(sample).lower() if isinstance(sample, bool) else str(sample)


@dataclass(frozen=True)
class Spec:
    """The parameters of one method, generator, check or verb, in the order they are shown.

    ``owner`` names it in errors (``"Method 'lrp'"``; default: its quoted name), ``noun`` is
    what its parameters are called there (``"parameter"``, ``"option"``) and ``hint`` follows
    the list of valid names when an unknown one is given.
    """

    name: str
    params: tuple[Param, ...] = ()
    owner: str = ""
    noun: str = "parameter"
    hint: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"Spec {self.name!r} declares a parameter twice: {names}.")

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        """Every optional parameter's default (required ones have none)."""
        return {p.name: p.default for p in self.params if not p.required}

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def resolve(self, given: Mapping[str, Any], owner: str | None = None) -> dict[str, Any]:
        """``given`` checked and typed, with every other parameter at its default.

        Unknown names are refused with the list of valid ones, required parameters must be
        given, strings are parsed (``"3"``, ``"0-5"``, ``"yes"``), choices and ranges are
        checked, and NaN or infinite floats are refused. ``owner`` overrides :attr:`owner`.
        """
        who = owner or self.owner or repr(self.name)
        unknown = sorted(set(given) - set(self.names))
        if unknown:
            valid = ", ".join(self.names) or "none"
            hint = f" {self.hint}" if self.hint else ""
            raise InvalidInputError(f"{who} has no {self.noun} {unknown[0]!r}; its {self.noun}s: {valid}.{hint}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given and not (p.required and given[p.name] is None):
                out[p.name] = p.coerce(given[p.name], who, self.noun)
            elif p.required:
                raise InvalidInputError(f"{who} needs the {self.noun} {p.name}; give e.g. {p.name}={p._hint()!r}.")
            else:
                out[p.name] = p.default
        return out
