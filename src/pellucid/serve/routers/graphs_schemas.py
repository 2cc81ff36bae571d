"""Request and response models of ``/api/graphs`` (they follow the plain dictionaries key for key).

The graph request's parameters are generated from :data:`pellucid.features.specs.GRAPH`, so the
API accepts what ``pellucid inspect graph`` accepts, within the server's bounds; the graph
answers :meth:`AttributionGraph.to_dict` (``docs/circuits.md``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pellucid.features.specs import GRAPH
from pellucid.serve.routers.audit import JobProgress
from pellucid.serve.routers.features import FeaturePage
from pellucid.serve.schemas import Number
from pellucid.serve.security import Text
from pellucid.serve.spec_models import request_model
from pellucid.service.graph_interventions import MAX_SCALE

#: the longest prompt a graph request may carry, in characters (its tokens are checked by the spec's max_tokens)
MAX_PROMPT_CHARS = 4000


class TranscoderSetInfo(BaseModel):
    """A served transcoder set (``error`` instead of the rest when its folder cannot be read)."""

    name: str = Field(description="The folder's name: how requests name the set.")
    folder: str
    model: str | None = None
    layers: list[int] | None = None
    width: int | list[int] | None = Field(None, description="Latents per layer (a list when layers differ).")
    architecture: list[str] | None = Field(None, description="Architectures: topk, batchtopk or jumprelu.")
    skip: list[int] | None = Field(None, description="The layers whose transcoder has a linear skip term.")
    error: str | None = None


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Model name (default: the server's model).")


GraphRequest = request_model(
    "GraphRequest",
    GRAPH.params,
    base=_Base,
    doc="An attribution graph of the prompt's next token over a served transcoder set.",
    inputs={
        "prompt": (Text, Field(..., min_length=1, max_length=MAX_PROMPT_CHARS)),
        "transcoders": (str, Field(..., min_length=1, max_length=255, description="A served transcoder set.")),
    },
)


class GraphTarget(BaseModel):
    token: str
    id: int
    probability: float
    value: float = Field(description="The logit minus the mean logit.")


class GraphNode(BaseModel):
    """A kept node; features carry latent and activation, tokens and errors their token, logits their target."""

    id: str
    kind: Literal["feature", "error", "token", "logit"]
    layer: int = Field(description="-1 for tokens, n_layers for logits.")
    position: int
    influence: float
    cumulative: float
    latent: int | None = None
    activation: float | None = None
    token: str | None = None
    token_id: int | None = None
    probability: float | None = None
    value: float | None = None


class GraphEdge(BaseModel):
    source: str
    target: str
    weight: float


class Graph(BaseModel):
    """An attribution graph, pruned (``AttributionGraph.to_dict``)."""

    kind: str
    schema_version: int
    model: str
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    n_layers: int
    targets: list[GraphTarget]
    scores: dict[str, Number]
    params: dict[str, Any]
    transcoders: list[str]
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    meta: dict[str, Any] = Field(description="Counts, timings, the completeness identity and the self-check.")


class GraphJobParams(BaseModel):
    model: str
    transcoders: str
    prompt: str
    chat: bool


class GraphJob(BaseModel):
    """A graph job: status and progress; ``graph`` once it is done."""

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    params: GraphJobParams
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    cancel_requested: bool
    progress: JobProgress
    steps: list[dict[str, Any]]
    error: str | None
    graph: Graph | None = None


class NeuronpediaGraph(BaseModel):
    """circuit-tracer's node/link JSON (``create_graph_files``), what Neuronpedia's graph viewer reads."""

    metadata: dict[str, Any]
    qParams: dict[str, Any]  # noqa: N815 (the viewer's key)
    nodes: list[dict[str, Any]]
    links: list[dict[str, Any]]


class Intervention(BaseModel):
    nodes: list[str] = Field(..., min_length=1, max_length=64, description="Feature node ids, e.g. F1.23@4.")
    scale: float = Field(..., ge=-MAX_SCALE, le=MAX_SCALE, allow_inf_nan=False, description="0 ablates, 2 doubles.")


class InterveneRequest(_Base):
    """Scale feature nodes (a node, or a supernode's nodes with one scale) in the real model."""

    prompt: Text = Field(..., min_length=1, max_length=MAX_PROMPT_CHARS)
    chat: bool = Field(False, description="Apply the chat template (default: raw text).")
    document_start: bool = Field(
        True, description="Put the model's document-start token before a raw prompt (as the graph does by default)."
    )
    transcoders: str = Field(..., min_length=1, max_length=255, description="A served transcoder set.")
    graph: str | None = Field(None, max_length=64, description="The graph job whose prediction to compare with.")
    interventions: list[Intervention] = Field(..., min_length=1, max_length=32)
    top_k: int = Field(5, ge=1, le=50, description="Next tokens listed.")


class NextToken(BaseModel):
    token: str
    id: int
    probability: float


class Distribution(BaseModel):
    top: list[NextToken]
    target_value: float = Field(description="The target's logit minus the mean logit.")
    target_probability: float


class ScaledNode(BaseModel):
    id: str
    layer: int
    latent: int
    position: int
    activation: float
    scale: float


class InterventionResult(BaseModel):
    """The real model with the nodes scaled, beside the clean run and the graph's prediction."""

    target: dict[str, str | int]
    nodes: list[ScaledNode]
    before: Distribution
    after: Distribution
    measured: float = Field(description="Change of the target's logit minus the mean logit.")
    predicted: float | None = Field(description="The graph's prediction through its computed features.")
    predicted_direct: float | None = Field(description="Through the nodes' direct edges to the target only.")


class NodeContexts(FeaturePage):
    """A feature node's latent as the Features tab shows it, on its layer's transcoder."""

    set: str
    layer: int
