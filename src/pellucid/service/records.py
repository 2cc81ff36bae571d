""" "Explain this": attribute a logged response to the logged prompt, from the monitoring store.

:func:`explain_record` loads the record, takes the model that answered it (``record.model``, or
``model=`` to use another), renders the logged prompt exactly as the call did (chat messages
through the model's chat template; a text prompt with the template unless the call was logged
with ``params={"chat": False}``), and runs an attribution method with the *logged response* as
the target — so the heat map explains what users actually saw, not a fresh generation.

:func:`logged_messages` and :func:`chat_flag` read a logged call the way the model reads it;
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
    name = model or record.model
    try:
        lm = pool.get(name)
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
