"""Proxy mode's ``GET /v1/models``: the proxied names, each with its upstream's own entry.

Every upstream is asked for its ``/models`` once per listing, all at the same time, with the
proxy's pooled client and the upstream's key; an upstream that cannot be reached does not hide
the others, its models are listed with the reason.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from pellucid.errors import InvalidInputError
from pellucid.serve.proxy import Proxy
from pellucid.serve.upstreams import Upstream


async def list_models(proxy: Proxy) -> dict[str, Any]:
    """``GET /v1/models``: every proxied name, with the upstream's own entry when it lists the model.

    Each upstream's ``/models`` is asked once (concurrently); one that cannot be reached still
    has its models listed, marked ``"pellucid": {"reachable": false, "error": ...}``.
    """
    found: dict[str, dict[str, Any]] = {}

    async def ask(upstream: Upstream) -> None:
        info: dict[str, Any] = {"upstream": upstream.base_url, "reachable": True}
        entry: dict[str, Any] = {}
        try:
            reply = await proxy.client.get(upstream.url("models"), headers=proxy.headers_for(upstream))
            listed = reply.json().get("data") if reply.status_code == 200 else None
            if reply.status_code != 200:
                info.update(reachable=False, error=f"answered {reply.status_code}")
            for item in listed if isinstance(listed, list) else []:
                if isinstance(item, dict) and item.get("id") == upstream.model:
                    entry = item
        except (httpx.HTTPError, ValueError, AttributeError, InvalidInputError) as exc:
            info.update(reachable=False, error=f"{type(exc).__name__}: {exc}"[:300])
        found[upstream.name] = {
            "id": upstream.name,
            "object": "model",
            "created": entry.get("created", 0) if isinstance(entry.get("created", 0), int) else 0,
            "owned_by": entry.get("owned_by") or upstream.base_url,
            "pellucid": info,
        }

    async with anyio.create_task_group() as group:
        for upstream in proxy.upstreams.values():
            group.start_soon(ask, upstream)
    return {"object": "list", "data": [found[name] for name in sorted(found)]}
