"""Attribution graphs in the workbench: ``/api/graphs``.

- ``GET /api/graphs/transcoders``: the transcoder sets this server serves (``--transcoders DIR``,
  ``PELLUCID_TRANSCODERS``) with their model, layers and width;
- ``POST /api/graphs``: start a graph job (202); the request is checked first (unknown set,
  parameters out of range, a prompt too long or a target of several tokens: 4xx naming the
  value), then :func:`pellucid.service.graph_views.build_graph` runs in the background with
  progress; ``GET /api/graphs/{id}`` answers its status and, once done, the pruned graph;
  ``DELETE`` cancels it; ``GET /api/graphs/{id}/neuronpedia`` is its Neuronpedia JSON;
- ``POST /api/graphs/intervene``: scale feature nodes in the real model, beside the graph's
  prediction (:mod:`pellucid.service.graph_interventions`);
- ``GET /api/graphs/{set}/features/{layer}/{latent}``: a feature node's top contexts.

Model work goes through the service (hooked passes under the model's exclusive lease).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from pellucid.serve.jobs import Job, JobStateError
from pellucid.serve.json_errors import JSONErrorRoute
from pellucid.serve.routers.audit import jobs_of
from pellucid.serve.routers.graphs_schemas import (
    GraphJob,
    GraphRequest,
    InterveneRequest,
    InterventionResult,
    NeuronpediaGraph,
    NodeContexts,
    TranscoderSetInfo,
)
from pellucid.serve.state import AppState, AppStateDep, app_state
from pellucid.service import graph_interventions, graph_views

KIND = "graph"


router = APIRouter(tags=["graphs"], route_class=JSONErrorRoute)


def _sets(state: AppState) -> dict[str, Path]:
    return graph_views.transcoder_sets(state.config().transcoders)


def _answer(job: Job) -> dict[str, Any]:
    answer = job.to_dict()
    answer["graph"] = job.result.to_dict() if job.status == "done" and job.result is not None else None
    return answer


def _graph_job(request: Request, job_id: str) -> Job:
    job = jobs_of(request).get(job_id)
    if job.kind != KIND:
        raise JobStateError(f"Job {job.id} is a {job.kind} job, not a graph.")
    return job


@router.get("/graphs/transcoders", response_model=list[TranscoderSetInfo], response_model_exclude_unset=True)
def list_sets(state: AppStateDep) -> list[dict[str, Any]]:
    """The transcoder sets this server serves."""
    return graph_views.list_transcoder_sets(_sets(state))


@router.post("/graphs", status_code=202, response_model=GraphJob, response_model_exclude_unset=True)
def start_graph(body: GraphRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
    """Check the request, then build the graph in the background; poll ``GET /api/graphs/{id}``."""
    state = app_state(request)
    values = body.model_dump()  # type: ignore[attr-defined]
    prompt, name, model = values.pop("prompt"), values.pop("transcoders"), values.pop("model")
    folder = graph_views.set_folder(_sets(state), name)
    lm = state.pool().get(model)
    transcoders, resolved = graph_views.prepare_graph(lm, folder, prompt, values)

    def work(job: Job) -> Any:
        job.begin_step("feature rows")
        graph = graph_views.build_graph(lm, transcoders, prompt, resolved, progress=job.step_progress)
        job.end_step({"step": "feature rows", "nodes": len(graph.to_dict()["nodes"])})
        return graph

    params = {"model": lm.name, "transcoders": name, "prompt": prompt, "chat": resolved["chat"]}
    return _answer(jobs_of(request).submit(KIND, work, total=1, params=params))


@router.post("/graphs/intervene", response_model=InterventionResult)
def intervene(body: InterveneRequest, request: Request) -> dict[str, Any]:
    """Scale feature nodes in the real model: the new output, the target's change and the graph's prediction."""
    state = app_state(request)
    folder = graph_views.set_folder(_sets(state), body.transcoders)
    graph = None
    if body.graph is not None:
        job = _graph_job(request, body.graph)
        if job.status != "done":
            raise JobStateError(f"The graph {job.id} is {job.status}; its prediction exists once it is done.")
        graph = job.result
    lm = state.pool().get(body.model)
    transcoders = graph_views.load_set(lm, folder)
    groups = [(i.nodes, i.scale) for i in body.interventions]
    return graph_interventions.intervene(
        lm,
        transcoders,
        body.prompt,
        groups,
        chat=body.chat,
        graph=graph,
        top_k=body.top_k,
        document_start=body.document_start,
    )


@router.get("/graphs/{job_id}", response_model=GraphJob, response_model_exclude_unset=True)
def get_graph(job_id: str, request: Request) -> dict[str, Any]:
    """Status and progress; ``graph`` holds the pruned graph once it is done."""
    return _answer(_graph_job(request, job_id))


@router.delete("/graphs/{job_id}", response_model=GraphJob, response_model_exclude_unset=True)
def cancel_graph(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a queued or running graph (it stops at its next batch of rows)."""
    _graph_job(request, job_id)
    return _answer(jobs_of(request).cancel(job_id))


@router.get("/graphs/{job_id}/neuronpedia", response_model=NeuronpediaGraph)
def neuronpedia(job_id: str, request: Request) -> dict[str, Any]:
    """The finished graph as circuit-tracer's node/link JSON (what Neuronpedia's graph viewer reads)."""
    job = _graph_job(request, job_id)
    if job.status != "done":
        raise JobStateError(f"The graph {job.id} is {job.status}; its export exists once it is done.")
    export: dict[str, Any] = job.result.to_neuronpedia(slug=f"pellucid-{job.id[:8]}")
    return export


@router.get("/graphs/{name}/features/{layer}/{latent}", response_model=NodeContexts)
def node_contexts(name: str, layer: int, latent: int, state: AppStateDep, model: str | None = None) -> dict[str, Any]:
    """A feature node's latent: its top contexts over the logged traffic and its logit effects."""
    folder = graph_views.set_folder(_sets(state), name)
    lm = state.pool().get(model)
    return graph_views.node_contexts(lm, name, folder, layer, latent, state.store)
