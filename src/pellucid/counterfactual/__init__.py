"""Counterfactuals and robustness: what changes when the prompt changes?

- :mod:`~pellucid.counterfactual.registry` — the generators (``GENERATORS``), each turning one
  prompt into checkable edited prompts: ``identity``, ``word_replace``, ``demographic_swap``,
  ``synonyms``, ``typos``, ``case_and_whitespace``, ``scramble``, ``drop_word``, ``paraphrase``,
  ``ablation_flip``, ``injection``.
- :mod:`~pellucid.counterfactual.compare` — ``counterfactual()``: one prompt and its edits side
  by side (answers, change in the target's log-probability, text metrics, word diff).
- :mod:`~pellucid.counterfactual.robustness` — ``run_robustness()``: flip rates over a data set.
- :mod:`~pellucid.counterfactual.injection` — ``run_injection()``: attack success rates.
- :mod:`~pellucid.counterfactual.cot` — ``cot_faithfulness()``: does the stated reasoning matter?
- :mod:`~pellucid.counterfactual.batch_score` — batched teacher-forced scoring of many prompts.
"""

from __future__ import annotations

from pellucid.counterfactual.base import Edit, GenContext, GeneratorSpec
from pellucid.counterfactual.registry import GENERATORS, generate_edits, get_generator, list_generators

__all__ = ["GENERATORS", "Edit", "GenContext", "GeneratorSpec", "generate_edits", "get_generator", "list_generators"]
