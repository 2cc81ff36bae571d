"""Inspect verbs: validate the parameters with the verb's spec, then call the method.

``pellucid inspect <verb>`` and ``POST /api/inspect/<verb>`` both end here::

    run_inspect("patch", lm, clean, corrupted, target=" Paris", layers="0-3")

:data:`pellucid.inspect_specs.VERBS` maps each verb to its :class:`~pellucid.spec.Spec` and
its function in :mod:`pellucid.inspect`; :func:`run_inspect` resolves the parameters (defaults
filled in, strings parsed, unknown names, choices, ranges and NaN refused with a clear error)
and calls the function with the inputs. The methods load on the first call, so importing this
module stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, unknown_name
from pellucid.inspect_specs import VERBS, Verb

if TYPE_CHECKING:
    from pellucid.inspect import LabelledData, LinearProbe
    from pellucid.models import LM


#: the verbs whose function takes ``progress(done, total)``
PROGRESS_VERBS = ("patch", "trace", "attribution_patch", "probe")


def inspect_verb(verb: str) -> Verb:
    """The declaration of ``verb``; an unknown name lists the valid ones."""
    if verb not in VERBS:
        raise unknown_name("inspect verb", verb, VERBS, "See `pellucid inspect --help`.")
    return VERBS[verb]


def inspect_function(verb: str) -> Callable[..., Any]:
    """The library function behind ``verb`` (imports :mod:`pellucid.inspect`, and so torch)."""
    return getattr(importlib.import_module("pellucid.inspect"), inspect_verb(verb).function)  # type: ignore[no-any-return]


def run_inspect(
    verb: str, lm: LM, *inputs: Any, progress: Callable[[int, int], None] | None = None, **params: Any
) -> Any:
    """Run inspect ``verb`` on ``lm``: ``inputs`` in the verb's order, ``params`` by name.

    Returns what the method returns: an :class:`~pellucid.types.Explanation` for the analyses,
    a fitted probe for ``fit_probe``, a vector for ``steering_vector``. ``progress(done, total)``
    goes to the verbs that report it (the sweeps: ``patch``, ``trace``, ``attribution_patch``,
    ``probe``); the other verbs are one or a few passes.
    """
    declared = inspect_verb(verb)
    if len(inputs) != len(declared.inputs):
        raise InvalidInputError(
            f"Inspect verb {verb!r} takes {len(declared.inputs)} input(s) ({', '.join(declared.inputs)}), "
            f"got {len(inputs)}."
        )
    resolved = declared.spec.resolve(params)
    if progress is not None and verb in PROGRESS_VERBS:
        resolved["progress"] = progress
    return inspect_function(verb)(lm, **dict(zip(declared.inputs, inputs)), **resolved)


def load_texts(sources: Sequence[str | Path]) -> list[str]:
    """Each source is a text, or a file of texts (``.txt`` lines, ``.csv``/``.tsv``/``.jsonl``)."""
    from pellucid.inspect.data import load_texts as _load

    out: list[str] = []
    for source in sources:
        out.extend(_load(source) if Path(source).is_file() else [str(source)])
    return out


def load_labelled(path: str | Path, **options: Any) -> LabelledData:
    """Labelled data for probes: ``.conllu`` (a tag per word) or ``.tsv``/``.csv``/``.jsonl`` (text, label)."""
    from pellucid.inspect.data import load_labelled as _load

    return _load(path, **options)


def labelled_examples(lines: Sequence[str]) -> LabelledData:
    """Sentence-level labelled data from ``'label: text'`` lines (blank lines skipped)."""
    from pellucid.inspect.data import LabelledData

    texts, labels = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        label, sep, text = line.partition(":")
        if not sep or not label.strip() or not text.strip():
            raise InvalidInputError(f"examples line {n} is {line!r}; write 'label: text'.")
        labels.append(label.strip())
        texts.append(text.strip())
    return LabelledData(texts=texts, labels=labels, level="sentence", source="request")


def load_probe(path: str | Path) -> LinearProbe:
    """A probe saved by ``pellucid inspect probe --save`` (``.npz``, no pickle)."""
    from pellucid.inspect.probing import LinearProbe

    return LinearProbe.load(path)
