""" "Explain this": attribute a logged response to the logged prompt, from the monitoring store.

:func:`explain_record` loads the record, takes the model that answered it (``record.model``, or
``model=`` to use another), renders the logged prompt exactly as the call did (chat messages
through the model's chat template; a text prompt with the template unless the call was logged
with ``params={"chat": False}``), and runs an attribution method with the *logged response* as
the target — so the heat map explains what users actually saw, not a fresh generation.

:func:`logged_messages` and :func:`chat_flag` read a logged call the way the model reads it, and
:func:`proxied_weights` finds the local weights of a call answered by an upstream (proxy mode);
enrichment (:mod:`pellucid.service.enrichment`) uses them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, ModelLoadError, ModelNotFoundError

if TYPE_CHECKING:
    from pellucid.monitor.store import Store
    from pellucid.service.pool import ModelPool
    from pellucid.types import Explanation


def chat_flag(params: dict[str, Any] | None) -> bool | None:
    """Whether the call used the chat template: the logged ``params["chat"]`` (``raw`` means no),
    else ``None`` (the model's default: chat when it has a template)."""
    params = params or {}
    if isinstance(params.get("chat"), bool):
        return bool(params["chat"])
    if params.get("raw") is True:
        return False
    return None


def logged_messages(prompt: Any) -> str | list[dict[str, str]]:
    """The logged prompt as the model reads it: text, or ``{"role", "content"}`` messages whose
    content parts (OpenAI style) are joined into text."""
    if isinstance(prompt, str):
        return prompt
    messages = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        messages.append({"role": str(message.get("role", "user")), "content": content or ""})
    return messages


def proxied_weights(record: Any, pool: ModelPool) -> str | None:
    """The local weights of a proxied record's model (configured now, or logged with the call).

    A record served by an upstream (``metadata.gateway.proxy``) names a model Pellucid cannot
    load by that name; without a mapping, the error says exactly what to configure.
    """
    proxy = (record.metadata.get("gateway") or {}).get("proxy")
    if not isinstance(proxy, dict):
        return None
    name = str(proxy.get("upstream") or record.model)
    configured = dict(spec.split("=", 1) for spec in pool.settings.local_weights if "=" in spec)
    weights = configured.get(name) or proxy.get("local_weights")
    if weights:
        return str(weights).strip()
    raise InvalidInputError(
        f"Record {record.id} was answered by {name!r} through the proxy to {proxy.get('url')}, and {name!r} is not "
        f"mapped to local weights. Set PELLUCID_LOCAL_WEIGHTS={name}=PATH_OR_BUNDLED_NAME (or start the server "
        f"with --local-weights {name}=PATH_OR_BUNDLED_NAME), or pass --model (model=) to explain it with a model "
        "of the same tokenizer."
    )


def explain_record(
    pool: ModelPool,
    store: Store,
    record_id: str,
    method: str = "occlusion",
    *,
    model: str | None = None,
    **params: Any,
) -> Explanation:
    """Explain the logged response of ``record_id`` with ``method`` (parameters as for
    :func:`pellucid.attribution.explain`: ``granularity``, ``segments``, ``steps``...)."""
    from pellucid.attribution import explain

    record = store.repo.get_record(record_id)
    if record.response is None or not record.response.strip():
        why = f"the call failed ({record.error})" if record.error else "it has no response"
        raise InvalidInputError(f"Record {record_id} cannot be explained: {why}.")
    weights = None if model else proxied_weights(record, pool)
    name = model or weights or record.model
    try:
        lm = (getattr(pool, "inner", pool) if weights else pool).get(name)  # operator-configured weights
    except (ModelNotFoundError, ModelLoadError) as exc:
        raise type(exc)(
            f"Record {record_id} was answered by model {name!r}, which cannot be loaded here ({exc}). "
            "Pass model= (--model) to explain it with another model."
        ) from None
    prompt = logged_messages(record.prompt)
    ex = explain(lm, prompt, record.response, method, chat=chat_flag(record.params), **params)
    ex.meta.update(
        {
            "record_id": record.id,
            "record_model": record.model,
            "record_model_version": record.model_version,
            "logged_at": record.created_at.isoformat(),
        }
    )
    return ex
