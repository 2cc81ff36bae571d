"""Feature dictionaries for the workbench: ``/api/features`` and one dictionary's features.

- ``GET /api/features``: the dictionaries this server serves (``--features DIR``,
  ``PELLUCID_FEATURES``, ``PELLUCID_ENRICH_FEATURES``) with their model, site, width and figures;
- ``GET /api/features/{name}/{id}``: one feature's page (top contexts over the logged traffic,
  histogram, density, the tokens its decoder promotes and suppresses, the records where it fires);
- ``POST /api/features/{name}/tokens``: each token of a prompt with its strongest latents;
- ``GET /api/features/{name}/moved?reference=…&current=…``: the latents whose firing rate moved
  between two windows (feature drift), each with links to its page and its records.

Model work goes through :mod:`pellucid.service.feature_views` (hooked passes under the model's
exclusive lease); the records a feature fires in are ``GET /api/records?feature=NAME:ID``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pellucid.serve.schemas import Number
from pellucid.serve.security import Text
from pellucid.serve.state import AppState, AppStateDep, ServerLacksError
from pellucid.service import feature_views

router = APIRouter(tags=["features"])


class DictionaryInfo(BaseModel):
    """A served dictionary (``error`` instead of the rest when its folder cannot be read)."""

    name: str = Field(description="The folder's name: how URLs and stored features name it.")
    folder: str
    model: str | None = None
    site: str | None = None
    architecture: str | None = None
    latents: int | None = None
    k: int | None = None
    metrics: dict[str, Number] = Field(default_factory=dict, description="fve, l0, dead_fraction, ce_recovered...")
    error: str | None = None


class FeatureContext(BaseModel):
    """A window of a logged text around the position where the feature fires most."""

    tokens: list[str]
    activations: list[float]
    peak: int = Field(description="Index of the strongest token in this window.")
    max: float


class Histogram(BaseModel):
    edges: list[float]
    counts: list[float]


class TokenEffect(BaseModel):
    token: str
    value: float = Field(description="Logit change per unit of the feature's unit direction.")


class RecordHit(BaseModel):
    id: str
    activation: float


class FeaturePage(BaseModel):
    """One feature over the logged traffic: where it fires, how strongly, what it says to the output."""

    dictionary: str
    site: str
    feature: int
    source: str = Field(description="The texts the contexts and histogram come from.")
    tokens_read: int
    density: float = Field(description="Fraction of the tokens read where the feature fires.")
    max_activation: float
    contexts: list[FeatureContext]
    histogram: Histogram
    promoted: list[TokenEffect]
    suppressed: list[TokenEffect]
    records: list[RecordHit] = Field(description="Records whose stored features include it, strongest first.")


class TokenFeature(BaseModel):
    latent: int
    activation: float


class TokenFeatures(BaseModel):
    """Each token of a prompt and its strongest active latents (strongest first)."""

    dictionary: str
    site: str
    model: str
    tokens: list[str]
    features: list[list[TokenFeature]]


class TokensRequest(BaseModel):
    prompt: Text = Field(..., min_length=1, max_length=20_000)
    k: int = Field(5, ge=1, le=64, description="Latents listed per token.")
    chat: bool = Field(False, description="Wrap the prompt in the chat template (default: the text as is).")
    model: str | None = None


class MovedLatent(BaseModel):
    latent: int
    change: str = Field(description="appeared, vanished, rose, fell or unchanged.")
    reference_rate: float
    current_rate: float
    p_value: float
    q_value: float
    page: str = Field(description="The workbench link to the feature's page.")
    records: str = Field(description="The workbench link to the records where it fires.")


class MovedFeatures(BaseModel):
    """Feature drift between two windows: the latents that moved most."""

    dictionary: str
    reference: dict[str, Any]
    current: dict[str, Any]
    feature: str
    verdict: str
    drifted: bool
    latents_tested: int
    latents_moved: int
    moved: list[MovedLatent]


def _folders(state: AppState) -> dict[str, Path]:
    settings = state.config()
    extra = (settings.enrich_features,) if settings.enrich_features is not None else ()
    return feature_views.served_folders((*settings.feature_dictionaries, *extra))


@router.get("/features", response_model=list[DictionaryInfo], response_model_exclude_unset=True)
def list_dictionaries(state: AppStateDep) -> list[dict[str, Any]]:
    """The dictionaries this server serves."""
    return feature_views.list_dictionaries(_folders(state))


@router.get("/features/{name}/moved", response_model=MovedFeatures)
def moved(
    name: str,
    state: AppStateDep,
    reference: str = Query(..., description="Reference window: last:30d, version:v1, dates..."),
    current: str = Query(..., description="Current window, same forms."),
    alpha: float = Query(0.05, gt=0, lt=1, description="False discovery rate."),
    model: str | None = None,
) -> dict[str, Any]:
    """The latents whose firing rate moved most between the windows (stored features, else the prompts)."""
    folder = feature_views.folder_of(_folders(state), name)
    store = state.store
    if store is None:
        raise ServerLacksError("Moved features compare logged windows; this server has no monitoring store.")
    return feature_views.moved_features(store, state.pool().get(model), folder, reference, current, alpha=alpha)


@router.get("/features/{name}/{feature}", response_model=FeaturePage)
def feature_page(
    name: str,
    feature: int,
    state: AppStateDep,
    window: str | None = Query(None, description="Logged records to read (default: all, newest first)."),
    top: int = Query(8, ge=1, le=50, description="Contexts and records listed."),
    max_tokens: int = Query(4000, ge=1, le=100_000, description="Logged tokens read."),
    model: str | None = None,
) -> dict[str, Any]:
    """One feature: top contexts, histogram and density over the logged traffic, logit effects, records."""
    folder = feature_views.folder_of(_folders(state), name)
    lm = state.pool().get(model)
    return feature_views.feature_page(lm, folder, feature, state.store, window=window, top=top, max_tokens=max_tokens)


@router.post("/features/{name}/tokens", response_model=TokenFeatures)
def tokens(name: str, body: TokensRequest, state: AppStateDep) -> dict[str, Any]:
    """Each token of the prompt with its ``k`` strongest latents."""
    folder = feature_views.folder_of(_folders(state), name)
    lm = state.pool().get(body.model)
    return feature_views.token_features(lm, folder, body.prompt, k=body.k, chat=body.chat)
