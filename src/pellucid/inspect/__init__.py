"""Look inside a model: where, in which layers and components, an answer is formed.

Attribution (:mod:`pellucid.attribution`) says which *input* tokens mattered; these methods
say which *internal* activations did. Every function takes a loaded
:class:`~pellucid.models.LM` and returns an :class:`~pellucid.types.Explanation` with
named axes, so one renderer draws them all.

================================  ==========================================  ========================
function                          question                                    axes
================================  ==========================================  ========================
:func:`activations`               how large is each layer's write per token?  layer × position
:func:`top_neurons`               which MLP neurons fire on this token?       neuron
:func:`top_activating_tokens`     what does this neuron respond to?           example
:func:`attention`                 where does each head look?                  head × query × key
:func:`head_summary`              how focused is each head?                   layer × head
:func:`attention_rollout`         which inputs flow to each position?         query × key
:func:`logit_lens`                what would each layer predict?              layer × position
:func:`direct_logit_attribution`  who writes the answer directly?             layer × component / head
:func:`patch`                     which activations carry the difference?     layer × position / head
:func:`trace`                     where is a fact recalled (ROME)?            layer × position
:func:`attribution_patch`         patching estimated by one backward pass     layer × position / head
:func:`ablate`                    what breaks without this component?         layer × head, ...
:func:`probe`                     where is a property linearly readable?      layer × metric
:func:`steer`                     what if we push along a direction?          coefficient × step
================================  ==========================================  ========================

Prompts are raw text by default (``chat=False``): next-token analyses usually read a
completion such as "The Eiffel Tower is located in the city of". Pass ``chat=True`` (or
``None``: template when the model has one) to analyse chat-formatted prompts.

Module and function share a name for ``activations``, ``attention`` and ``logit_lens``;
the functions are bound here at import, so ``pellucid.inspect.attention`` is always the
function (the modules stay importable as ``pellucid.inspect.attention`` in ``import``
statements). Probing (and scikit-learn) loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pellucid.inspect.ablation import ablate
from pellucid.inspect.activations import activations, top_activating_tokens, top_neurons
from pellucid.inspect.attention import attention, attention_rollout, head_summary
from pellucid.inspect.attribution_patching import attribution_patch
from pellucid.inspect.data import LabelledData, load_labelled, load_texts
from pellucid.inspect.direct_logit import direct_logit_attribution
from pellucid.inspect.logit_lens import lens_logits, logit_lens
from pellucid.inspect.patching import align_ids, patch
from pellucid.inspect.steering import steer, steering_vector
from pellucid.inspect.tracing import subject_positions, trace

if TYPE_CHECKING:
    from pellucid.inspect.probing import LinearProbe, control_labels, fit_probe, probe

#: names loaded on first use (they need scikit-learn)
_LAZY: dict[str, str] = {
    "probe": "probing",
    "fit_probe": "probing",
    "LinearProbe": "probing",
    "control_labels": "probing",
}

__all__ = [
    "LabelledData",
    "LinearProbe",
    "ablate",
    "activations",
    "align_ids",
    "attention",
    "attention_rollout",
    "attribution_patch",
    "control_labels",
    "direct_logit_attribution",
    "fit_probe",
    "head_summary",
    "lens_logits",
    "load_labelled",
    "load_texts",
    "logit_lens",
    "patch",
    "probe",
    "steer",
    "steering_vector",
    "subject_positions",
    "top_activating_tokens",
    "top_neurons",
    "trace",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pellucid.inspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pellucid.inspect.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
