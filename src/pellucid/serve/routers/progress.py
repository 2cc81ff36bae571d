"""``GET /api/progress/{id}``: how far a running request has got, for the workbench's progress bar.

A long request (an explanation, an inspect verb, a projection) may carry the header
``X-Pellucid-Progress: <id>`` (a random id the client chooses); while it runs, this route answers
its last progress point — done and total units of work (perturbed prompts, gradient steps,
forward passes) and the fraction — or ``null``s before the first point. Unknown ids (finished, or
never announced) are a 404, which the workbench reads as "no fraction to show".
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from pellucid.serve.disconnect import PROGRESS_HEADER
from pellucid.serve.state import app_state

router = APIRouter(tags=["progress"])


class RequestProgress(BaseModel):
    """The last progress point of a running request (``null`` before its first one)."""

    id: str
    done: int | None
    total: int | None
    fraction: float | None


@router.get("/progress/{key}", response_model=RequestProgress)
def request_progress(key: str, request: Request) -> RequestProgress:
    token = app_state(request).progress.get(key)
    if token is None:
        raise HTTPException(
            status_code=404,
            detail=f"No running request has progress id {key!r}: it finished, or was sent without the "
            f"{PROGRESS_HEADER} header.",
        )
    done, total = token.done, token.total
    fraction = done / total if done is not None and total else None
    return RequestProgress(id=key, done=done, total=total, fraction=fraction)
