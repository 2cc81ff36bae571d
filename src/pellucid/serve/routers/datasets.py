"""The data-set view's routes: open a file, page its examples, run the model, aggregate attribution.

- ``POST /api/datasets`` opens a data set — an uploaded file's ``text`` (with its ``name``), or a
  ``path`` on the server, read only when the server has no API token (a loopback server for its
  own user; a server reachable by others never reads files a request names) — and answers its
  first page. Files are read as ``pellucid explain --dataset`` reads them.
- ``GET /api/datasets/{id}/examples`` answers another page (``offset``, ``limit``).
- ``POST /api/datasets/run`` answers and scores examples, with progress (``X-Pellucid-Progress``)
  and cancellation when the client goes (as explanations do).
- ``POST /api/datasets/aggregate`` ranks the words of many explanations by their mean attribution.

Explaining and counterfactuals reuse ``POST /api/explanations`` and ``POST /api/counterfactuals``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from pellucid.errors import InvalidInputError
from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.schemas import Number
from pellucid.serve.security import Text
from pellucid.serve.state import app_state
from pellucid.service.dataset import MAX_PAGE, DatasetShelf, aggregate_attribution, run_examples
from pellucid.types import Explanation

router = APIRouter(tags=["datasets"])
_SHELF = DatasetShelf()  # ids are content hashes, so apps in one process may share it
MAX_RUN = 100  # examples per run request


class OpenDataset(BaseModel):
    path: str | None = Field(None, max_length=4096, description="A file on the server (no API token only).")
    name: str | None = Field(None, max_length=255, description="An uploaded file's name (.jsonl, .csv, .tsv).")
    text: str | None = Field(None, description="An uploaded file's text.")
    template: str | None = Field(None, max_length=20_000, description="Where a text field goes: {text}.")
    limit: int = Field(100, ge=1, le=MAX_PAGE)


class Example(BaseModel):
    """One example: its 1-based row in the file, the prompt and the target (null: the model's answer)."""

    row: int
    prompt: str
    target: str | None


class ExamplePage(BaseModel):
    """A page of a data set's examples, and how many it has in all (rows without text skipped)."""

    id: str
    name: str
    total: int
    skipped: int
    template: str | None
    offset: int
    examples: list[Example]


class RunItem(BaseModel):
    prompt: Text = Field(..., min_length=1, max_length=20_000)
    target: Text | None = Field(None, max_length=20_000)


class RunRequest(BaseModel):
    examples: list[RunItem] = Field(..., min_length=1, max_length=MAX_RUN)
    model: str | None = None
    max_new_tokens: int = Field(16, ge=1, le=256)
    raw: bool = Field(False, description="The prompts as plain text, not in the chat template.")


class ExampleRun(BaseModel):
    """The model on one example: its answer, metrics (null: not computed) and flags (name → reason)."""

    prompt: str
    target: str | None
    answer: str
    metrics: dict[str, Number | None]
    flags: dict[str, str]


class RowAttribution(BaseModel):
    """An explanation as ``POST /api/explanations`` answered it (the fields aggregation reads)."""

    kind: str = "attribution"
    method: str
    model: str
    axes: list[str]
    labels: dict[str, list[str]]
    scores: list[Any] = Field(description="Nested lists shaped like the axes; null: not computed.")
    signed: bool = True


class AggregateRequest(BaseModel):
    explanations: list[RowAttribution] = Field(..., min_length=1, max_length=1000)
    top: int | None = Field(None, ge=1, le=10_000)


class WordWeight(BaseModel):
    """A word's mean attribution over the rows holding it (its per-row sum), and how often it occurs."""

    word: str
    mean: float
    rows: int
    occurrences: int


@router.post("/datasets", response_model=ExamplePage)
def open_dataset(body: OpenDataset, request: Request) -> dict[str, Any]:
    """Open an uploaded file (``name`` + ``text``) or a ``path``; answers the first page."""
    if (body.path is None) == (body.text is None):
        raise InvalidInputError("Give either an uploaded file (name and text) or a path on the server, not both.")
    if body.text is not None:
        key = _SHELF.open_text(body.name or "upload.jsonl", body.text, template=body.template or None)
    else:
        if app_state(request).config().api_token:
            raise InvalidInputError(
                "This server has an API token, so it reads no file a request names; upload the file instead."
            )
        key = _SHELF.open_file(body.path or "", template=body.template or None)
    return _SHELF.page(key, limit=body.limit).to_dict()


@router.get("/datasets/{dataset_id}/examples", response_model=ExamplePage)
def dataset_examples(
    dataset_id: str, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=MAX_PAGE)
) -> dict[str, Any]:
    """Examples ``offset`` to ``offset + limit`` of an open data set."""
    return _SHELF.page(dataset_id, offset=offset, limit=limit).to_dict()


@router.post("/datasets/run", response_model=list[ExampleRun])
async def run_dataset(body: RunRequest, request: Request) -> list[dict[str, Any]]:
    """Answer each example greedily and score its target; progress is per example."""
    models = app_state(request).pool()

    def work(token: CancelToken) -> list[dict[str, Any]]:
        lm = models.get(body.model)
        with token.guard(lm):
            items = [(e.prompt, e.target) for e in body.examples]
            runs = run_examples(lm, items, max_new_tokens=body.max_new_tokens, raw=body.raw, progress=token)
        return [r.to_dict() for r in runs]

    return await run_until_disconnect(request, work)


@router.post("/datasets/aggregate", response_model=list[WordWeight])
def aggregate(body: AggregateRequest) -> list[dict[str, Any]]:
    """The words of the explanations ranked by the magnitude of their mean attribution."""
    explanations = [_explanation(i, e.model_dump()) for i, e in enumerate(body.explanations, 1)]
    return [vars(w) for w in aggregate_attribution(explanations, top=body.top)]


def _explanation(number: int, data: dict[str, Any]) -> Explanation:
    """One posted explanation, or a 422 naming which one does not hold together (scores vs axes)."""
    try:
        return Explanation.from_dict(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInputError(
            f"explanations[{number}] is not an explanation as POST /api/explanations answers it ({exc}); "
            "send the results of that route unchanged."
        ) from None
