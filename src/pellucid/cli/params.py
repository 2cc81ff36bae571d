"""The one parser of ``name=value`` options: ``explain -p``, ``counterfactual -p``, ``audit --set``.

The values stay strings: the method, generator or check resolves them with its
:class:`~pellucid.spec.Spec`, which knows their types, ranges and choices, so ``-p steps=32``
and ``"steps": 32`` in an API request are checked by the same code::

    parse_params(["steps=32", "baseline = pad"])                  # {"steps": "32", "baseline": "pad"}
    parse_dotted(["bias.top_k=5"], "--set", "bias.top_k=5", "CHECK.OPTION=VALUE")   # {"bias": {"top_k": "5"}}

Dashes in names become underscores (``-p n-samples=100`` is ``n_samples``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pellucid.cli.common import fail

_ESCAPE = re.compile(r"\\([nt\\])")
_ESCAPED = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> str:
    r"""Turn the two-character sequences ``\n``, ``\t`` and ``\\`` of a text option into a newline, a tab
    and a backslash: a shell passes ``--template "Review: {text}\nSentiment:"`` with a backslash and an n,
    and the model should see a new line."""
    return _ESCAPE.sub(lambda m: _ESCAPED[m.group(1)], text)


def parse_params(
    pairs: Iterable[str], flag: str = "--param", example: str = "steps=32", form: str = "name=value"
) -> dict[str, str]:
    """``["n=3", "rate=0.2"]`` -> ``{"n": "3", "rate": "0.2"}``; a pair without ``=`` exits with a hint."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise fail(f"{flag} {pair!r} must look like {form}, e.g. {flag} {example}.")
        params[name.strip().replace("-", "_")] = value.strip()
    return params


def parse_dotted(pairs: Iterable[str], flag: str, example: str, form: str) -> dict[str, dict[str, str]]:
    """``["bias.top_k=5", "pii.probe=no"]`` -> ``{"bias": {"top_k": "5"}, "pii": {"probe": "no"}}``.

    ``form`` says what a pair looks like in errors (``"CHECK.OPTION=VALUE"``).
    """
    out: dict[str, dict[str, str]] = {}
    for key, value in parse_params(pairs, flag, example, form).items():
        group, sep, name = key.partition(".")
        if not sep or not group or not name:
            raise fail(f"{flag} {key}={value!r} must look like {form}, e.g. {flag} {example}.")
        out.setdefault(group, {})[name] = value
    return out
