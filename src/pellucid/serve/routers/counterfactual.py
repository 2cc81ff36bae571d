"""Counterfactuals over HTTP: "what if the prompt were different?". Mount under ``/api``.

- ``POST /api/counterfactuals`` — the original prompt and either an ``edited`` prompt or a
  ``generator`` (with ``generator_params``) that makes edited versions. Each prompt is answered
  (greedy) and the *target* — the text given, else the model's answer to the original — is
  scored after every prompt by :func:`pellucid.counterfactual.compare.counterfactual`. The answer
  is its ``CounterfactualResult`` as JSON: ``original`` and ``variants``, each with ``prompt``,
  ``answer``, ``target_logprob``; the variants also with ``delta_logprob`` (edited − original),
  the word ``diff`` and the ``edit`` (generator, label, changed spans).
- ``GET /api/counterfactuals/generators`` — the generators and their parameters (the format of
  ``GET /api/methods``), without the parameters that name files on the server.

Errors answer ``{"error": {"type", "message"}}``: 422 for a bad request (no edit, an edit equal
to the original, an unknown generator or parameter), 404 for an unknown model. The work runs in a
worker thread and stops before its next forward pass when the client disconnects (499).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from pellucid.errors import InvalidInputError
from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.json_errors import JSONErrorRoute
from pellucid.serve.schemas import ParamSpec
from pellucid.serve.security import Text
from pellucid.serve.state import app_state

router = APIRouter(tags=["counterfactuals"], route_class=JSONErrorRoute)

#: Generator parameters that name files on the server: a request may only leave them at their default.
FILE_PARAMS = frozenset({"lexicon_file", "suite"})
#: At most this many generated edits are answered and scored per request.
MAX_EDITS = 12


class CounterfactualRequest(BaseModel):
    """An original prompt and an edited version of it (given, or made by a generator)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(..., min_length=1, max_length=20_000, description="The original prompt.")
    edited: Text | None = Field(None, max_length=20_000, description="The edited prompt.")
    generator: str | None = Field(None, max_length=100, description="Or a generator that makes the edits.")
    generator_params: dict[str, Any] = Field(
        default_factory=dict, description="See GET /api/counterfactuals/generators."
    )
    target: Text | None = Field(
        None, max_length=20_000, description="Text scored after each prompt (default: the model's original answer)."
    )
    foil: Text | None = Field(
        None, max_length=20_000, description="Contrast text: also report log p(target) − log p(foil)."
    )
    model: str | None = None
    raw: bool = False
    system: Text | None = Field(None, max_length=20_000)
    max_new_tokens: int = Field(32, ge=1, le=256)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class GeneratorSpec(BaseModel):
    """An edit generator: what it changes, what it needs (an encoder, the model...), its parameters."""

    name: str
    description: str
    needs: list[str]
    params: list[ParamSpec]


class WordDiffOp(BaseModel):
    """One step of a word diff between the original prompt and a variant."""

    op: Literal["equal", "replace", "delete", "insert"]
    old: list[str]
    new: list[str]


class Change(BaseModel):
    """Characters ``start:end`` of the original (``old``) were replaced by ``new``."""

    start: int
    end: int
    old: str
    new: str
    kind: str


class EditInfo(BaseModel):
    """How a variant was made: its text, the generator, a label and the changed spans."""

    text: str
    generator: str
    label: str
    changes: list[Change]
    meta: dict[str, Any]


class CounterfactualVariant(BaseModel):
    """One prompt with the model's answer and the target's log-probability after it."""

    prompt: str
    answer: str
    target_logprob: float
    foil_logprob: float | None
    edit: EditInfo | None
    delta_logprob: float = Field(description="Edited − original (0 for the original).")
    delta_contrast: float | None
    exact_match: bool
    token_edit_distance: int
    similarity: float | None
    diff: list[WordDiffOp]


class CounterfactualResult(BaseModel):
    """The original prompt and every edited variant, answered and scored."""

    kind: str
    model: str
    target: str
    target_is_answer: bool
    foil: str | None
    original: CounterfactualVariant
    variants: list[CounterfactualVariant]
    unmatched: list[str] = Field(description="Replacement patterns that matched nothing.")
    params: dict[str, Any]
    truncated: bool = Field(description="Whether the generator made more edits than were scored.")


def _described(info: dict[str, Any]) -> dict[str, Any]:
    return {**info, "params": [p for p in info["params"] if p["name"] not in FILE_PARAMS]}


def _refuse_file_params(name: str, params: dict[str, Any]) -> None:
    """A request may leave the generator parameters that name files on the server only at their default."""
    from pellucid.service.counterfactual import generator_defaults

    defaults = generator_defaults(name)
    refused = sorted(k for k in FILE_PARAMS & set(params) if params[k] != defaults.get(k))
    if refused:
        raise InvalidInputError(
            f"Generator parameter {refused[0]!r} names a file on the server, which a request cannot set; "
            "use the command line (`pellucid counterfactual --generator ... --param ...`)."
        )


@router.get("/counterfactuals/generators", response_model=list[GeneratorSpec])
def list_generators() -> list[dict[str, Any]]:
    """Every edit generator with its description and parameters."""
    from pellucid.service.counterfactual import list_generators as described

    return [_described(info) for info in described()]


@router.post("/counterfactuals", response_model=CounterfactualResult)
async def create_counterfactual(body: CounterfactualRequest, request: Request) -> dict[str, Any]:
    """Answer and score the original and the edited prompt(s); see the module docstring."""
    from pellucid.service.counterfactual import compare_variants

    if body.edited is not None and body.generator is not None:
        raise InvalidInputError("Give either an edited prompt (edited) or a generator, not both.")
    if body.edited is None and body.generator is None:
        raise InvalidInputError("Nothing to compare: give the edited prompt (edited) or a generator that makes edits.")
    if body.edited is not None and not body.edited.strip():
        raise InvalidInputError("The edited prompt is empty; write the prompt to compare with the original.")
    if body.edited == body.prompt:
        raise InvalidInputError("The edited prompt is the same as the original; change some words to compare.")
    models = app_state(request).pool()

    def work(token: CancelToken) -> dict[str, Any]:
        lm = models.get(body.model)  # loading may take seconds: not on the event loop
        chat = not body.raw and lm.is_chat
        with token.guard(lm):  # stops generation and scoring once the client has gone
            if body.generator is not None:
                _refuse_file_params(body.generator, body.generator_params)
            result, truncated = compare_variants(
                lm,
                body.prompt,
                edited=body.edited,
                generator=body.generator,
                generator_params=body.generator_params,
                pool=models,
                max_edits=MAX_EDITS,
                target=body.target,
                foil=body.foil,
                chat=chat,
                system=body.system,
                max_new_tokens=body.max_new_tokens,
                seed=body.seed,
            )
        answer = result.to_dict()
        answer["params"].update({"generator": body.generator, "generator_params": body.generator_params})
        answer["truncated"] = truncated
        return answer

    return await run_until_disconnect(request, work)
