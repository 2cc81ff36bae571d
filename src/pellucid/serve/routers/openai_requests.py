"""The request bodies of the OpenAI-compatible completion endpoints, validated as the OpenAI API
defines them, with the parameters Pellucid does not implement accepted only at their neutral values
(see :mod:`pellucid.serve.routers.openai`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pellucid.serve.gateway import Call, Gateway, Sampling
from pellucid.serve.security import greedy_if_tiny, reject_surrogates

#: OpenAI parameters Pellucid does not implement, with the value(s) that mean "not used".
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0, 0.0, None),
    "presence_penalty": (0, 0.0, None),
    "logprobs": (False, None),
    "top_logprobs": (0, None),
    "logit_bias": ({}, None),
    "tools": ([], None),
    "tool_choice": ("none", "auto", None),
    "functions": ([], None),
    "function_call": ("none", "auto", None),
    "parallel_tool_calls": (True, False, None),
    "response_format": ({"type": "text"}, None),
    "echo": (False, None),
    "best_of": (1, None),
    "suffix": (None, ""),
}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] = Field(..., description="Text, or a list of text parts.")
    name: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if isinstance(value, str):
            return reject_surrogates(value)
        if isinstance(value, list):
            for part in value:
                if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise ValueError(
                        f"only text content is supported: a string or parts like {{'type': 'text', 'text': '...'}}; "
                        f"got a {kind!r} part"
                    )
                reject_surrogates(part["text"])
            return value
        raise ValueError(f"content must be a string or a list of text parts, got {type(value).__name__}")

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p["text"] for p in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class CommonRequest(BaseModel):
    """Fields shared by both completion endpoints."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(None, min_length=1, max_length=500, description="Default: the server's model.")
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1, description="Sampling seed (torch's range).")
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice per call.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = Field(None, max_length=64)
    cache: bool | None = Field(None, description="Pellucid: answer from the exact-match cache when possible.")

    @field_validator("temperature")
    @classmethod
    def _tiny_is_greedy(cls, value: float) -> float:
        return greedy_if_tiny(value)  # 1e-309 would overflow the logits into NaN (was a 500)

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError(f"stop takes up to 4 non-empty strings, got {value!r}")
        for stop in stops:
            reject_surrogates(stop)
        return value

    @model_validator(mode="after")
    def _check_unsupported(self) -> CommonRequest:
        for name, value in (self.model_extra or {}).items():
            if name in _NEUTRAL and value not in _NEUTRAL[name]:
                raise ValueError(f"{name}={value!r} is not supported by Pellucid's gateway; remove it")
        return self

    def sampling(self) -> Sampling:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return Sampling(
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=tuple(stops),
        )

    def ignored(self) -> list[str]:
        return sorted(k for k in (self.model_extra or {}) if k not in _NEUTRAL)

    def begin(self, gateway: Gateway, request: Request, endpoint: str, prompt: Any) -> Call:
        extra = {"ignored_params": self.ignored()} if self.ignored() else None
        params = {**self.sampling().to_dict(), "stream": self.stream}
        return gateway.begin(
            request,
            endpoint,
            prompt,
            model=self.model,
            user=self.user,
            metadata=self.metadata,
            params=params,
            cache=self.cache,
            extra=extra,
        )


class ChatCompletionRequest(CommonRequest):
    messages: list[ChatMessage] = Field(..., min_length=1)

    def logged(self) -> list[dict[str, Any]]:
        """The messages as logged: text content, the name when given."""
        out: list[dict[str, Any]] = []
        for m in self.messages:
            item: dict[str, Any] = {"role": m.role, "content": m.text()}
            if m.name:
                item["name"] = m.name
            out.append(item)
        return out

    def for_model(self) -> list[dict[str, str]]:
        """The messages as the chat template gets them (``developer`` is a system message)."""
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages]


class CompletionRequest(CommonRequest):
    prompt: str | list[str] = Field(..., description="One prompt (a list of exactly one string is accepted).")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"one prompt per call is supported, got a list of {len(value)}")
        reject_surrogates(value if isinstance(value, str) else value[0])
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]
