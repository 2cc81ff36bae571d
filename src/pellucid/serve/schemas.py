"""Response shapes shared by several routers: the :class:`Explanation` and the :class:`ParamSpec`.

These pydantic models describe what the API answers; they do not compute anything. Each route
declares one as its ``response_model``, so the OpenAPI document (``/api/openapi.json``) states
every answer's shape, and the workbench's TypeScript types are generated from it
(``scripts/gen_api_types.py``). The models follow the ``to_dict()`` of the plain types they
describe key for key, in the same order, so validating an answer changes none of its bytes.

``Explanation`` is the one heat-map interface: attribution, attention, logit lens, patching and
probes all answer it (:class:`pellucid.types.Explanation`, ``to_dict()``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from typing_extensions import TypeAliasType

#: A score grid of any rank: nested lists of numbers; ``null`` marks a cell not computed (NaN).
Scores = TypeAliasType("Scores", "float | None | list[Scores]")
#: A number as the answer wrote it (an integer stays an integer).
Number = int | float


class Explanation(BaseModel):
    """Scores over named axes with a label per index, and how they were computed."""

    kind: str = Field(description="attribution, attention, logit_lens, patching, probe...")
    method: str
    model: str
    axes: list[str] = Field(description="Axis names, outermost first, e.g. ['target', 'input'].")
    labels: dict[str, list[str]] = Field(description="One label per index of each axis.")
    scores: list[Scores] = Field(description="Nested lists shaped like the axes; null: not computed.")
    signed: bool = Field(description="Whether scores have a sign (diverging colours) or not.")
    params: dict[str, Any]
    meta: dict[str, Any]


class ParamSpec(BaseModel):
    """One parameter of a method, verb, check or generator, described for forms and help."""

    name: str
    type: str = Field(description="str, int, float, bool, int_list or str_list.")
    default: Any
    help: str
    choices: list[Any] | None
    min: Number | None
    max: Number | None
    required: bool | None = None
    widget: str | None = Field(None, description="text (a text area) or lines (one item per line).")
