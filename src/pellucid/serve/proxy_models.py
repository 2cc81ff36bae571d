"""The models of a proxying gateway: ``GET /v1/models`` and token counts with mapped weights.

:func:`list_models` asks every upstream for its model list (concurrently) and, on a gateway
that also serves local models (``--serve-local``), puts the local ones beside the proxied
ones. :func:`local_token_counter` counts a proxied call's tokens with the weights its model is
mapped to when the upstream reports no usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from pellucid.errors import InvalidInputError
from pellucid.serve.proxy import Proxy, TokenCounter
from pellucid.serve.upstreams import Upstream


async def list_models(proxy: Proxy, local: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``GET /v1/models``: every proxied name, with the upstream's own entry when it lists the model,
    then the ``local`` entries (the local gateway's list) whose names are not proxied.

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
    served_here = [entry for entry in local if entry.get("id") not in found]
    return {"object": "list", "data": [found[name] for name in sorted(found)] + served_here}


def local_token_counter(pool: Any) -> TokenCounter:
    """Counts a proxied call's tokens with its mapped local weights (None for unmapped models).

    The prompt is counted as the model reads it (chat messages through its chat template), the
    response as a continuation without special tokens. ``pool`` is the app's model pool; the
    operator configured the weights, so the request guard on model names does not apply.
    """
    from pellucid.service.records import logged_messages

    models = getattr(pool, "inner", pool)

    def count(upstream: Upstream, prompt: Any, response: str | None) -> tuple[int, int] | None:
        if not upstream.local_weights:
            return None
        lm = models.get(upstream.local_weights)
        prompt_tokens = len(lm.encode(logged_messages(prompt), chat=isinstance(prompt, list)))
        return prompt_tokens, len(lm.encode_target(response)) if response else 0

    return count
