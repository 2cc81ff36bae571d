"""Upstream servers for proxy mode: which model names are forwarded where, parsed and checked once.

``pellucid serve --upstream NAME=URL`` makes the gateway forward every ``/v1`` call naming model
``NAME`` to an OpenAI-compatible server at ``URL`` (vLLM, TGI, llama.cpp's server, Ollama, a
hosted API, another Pellucid). The URL is the server's API base, the part before
``/chat/completions``: ``http://127.0.0.1:8001/v1``. Two optional parts:

- ``NAME=URL#MODEL``: the upstream knows the model by another name (a URL's fragment is never
  sent over HTTP, so it cannot clash with the address): clients say ``NAME``, the upstream
  receives ``MODEL``.
- ``--upstream-key-env NAME=VAR`` (or just ``VAR`` for every upstream): the environment variable
  holding the upstream's API key, sent as ``Authorization: Bearer``. The key itself never
  appears on the command line, in settings or in records.

``--local-weights NAME=PATH_OR_BUNDLED_NAME`` maps a proxied model to weights Pellucid can
load, so its records can be explained (``pellucid explain --record ID``) and its token counts
computed when the upstream reports none.

The same three lists can be set with ``PELLUCID_UPSTREAMS``, ``PELLUCID_UPSTREAM_KEY_ENV`` and
``PELLUCID_LOCAL_WEIGHTS`` (entries separated by commas), or in a TOML file
(``--upstream-config``, see :func:`pellucid.settings.read_upstream_config`).

:class:`UpstreamTimeouts` holds how long the proxy waits: for a connection, for each read (a
silent upstream), and for a whole call from the request to the last streamed byte.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pellucid.errors import InvalidInputError
from pellucid.settings import Settings

_MAX_NAME = 200  # the store's model column


@dataclass(frozen=True)
class Upstream:
    """One proxied model: the name clients use, where it is served, and how to reach it."""

    name: str
    #: API base without a trailing slash (``http://host:port/v1``)
    base_url: str
    #: the model name sent upstream (``name`` unless ``NAME=URL#MODEL`` renamed it)
    model: str
    #: environment variable holding the API key (None: no key is sent)
    key_env: str | None = None
    #: local weights for explanations and token counts (None: not mapped)
    local_weights: str | None = None

    def api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The key from ``key_env``; a configured variable that is unset is an error naming it."""
        if self.key_env is None:
            return None
        env = os.environ if env is None else env
        value = env.get(self.key_env)
        if not value:
            raise InvalidInputError(
                f"Upstream {self.name!r} takes its API key from ${self.key_env}, which is not set; "
                f"export {self.key_env}=<key> or drop --upstream-key-env for it."
            )
        return value

    def url(self, path: str) -> str:
        """The upstream URL of an endpoint (``chat/completions``)."""
        return f"{self.base_url}/{path.lstrip('/')}"


@dataclass(frozen=True)
class UpstreamTimeouts:
    """Seconds the proxy waits: ``connect`` for a connection, ``read`` between two reads of the
    answer (generation can be slow to start), ``total`` for a whole call, streams included."""

    connect: float = 10.0
    read: float = 300.0
    total: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamTimeouts:
        """The configured timeouts (flag, variable or config file), the defaults for the rest."""
        given = {
            "connect": settings.upstream_connect_timeout,
            "read": settings.upstream_read_timeout,
            "total": settings.upstream_total_timeout,
        }
        return cls(**{k: v for k, v in given.items() if v is not None})


def _pair(spec: str, flag: str, example: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise InvalidInputError(f"{flag} {spec!r} is not of the form {example}; for example {flag} {_EXAMPLES[flag]}.")
    if len(name) > _MAX_NAME:
        raise InvalidInputError(f"{flag}: the model name {name[:40]!r}... is over {_MAX_NAME} characters; shorten it.")
    return name, value


_EXAMPLES = {
    "--upstream": "llama=http://127.0.0.1:8001/v1",
    "--upstream-key-env": "llama=OPENAI_API_KEY",
    "--local-weights": "llama=smollm2-135m-instruct",
}


def parse_upstream(spec: str) -> tuple[str, str, str]:
    """``NAME=URL[#MODEL]`` as (name, base URL, upstream model), or an error naming what is wrong."""
    name, target = _pair(spec, "--upstream", "NAME=URL")
    url, _, model = target.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"--upstream {spec!r}: {url!r} is not an http:// or https:// URL with a host; give the server's "
            f"API base, for example {_EXAMPLES['--upstream']}."
        )
    if parts.query:
        raise InvalidInputError(f"--upstream {spec!r}: the URL may not have a query string ({parts.query!r}).")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError as exc:
        raise InvalidInputError(f"--upstream {spec!r}: bad port in {url!r} ({exc}).") from None
    return name, url.rstrip("/"), model.strip() or name


def _mapping(specs: Sequence[str], flag: str, names: set[str]) -> tuple[dict[str, str], str | None]:
    """``NAME=VALUE`` entries per upstream (a bare ``VALUE`` applies to all, for the key flag)."""
    out: dict[str, str] = {}
    default: str | None = None
    for spec in specs:
        if flag == "--upstream-key-env" and "=" not in spec and spec.strip():
            default = spec.strip()
            continue
        name, value = _pair(spec, flag, "NAME=VALUE")
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise InvalidInputError(
                f"{flag} {spec!r} names {name!r}, which is not a proxied model (configured: {known}); "
                "add --upstream for it or fix the name."
            )
        out[name] = value
    return out, default


def build_upstreams(
    upstreams: Sequence[str], key_envs: Sequence[str] = (), local_weights: Sequence[str] = ()
) -> dict[str, Upstream]:
    """Parse and cross-check the three lists into ``{name: Upstream}``. Raises on any bad entry."""
    parsed: dict[str, tuple[str, str]] = {}
    for spec in upstreams:
        name, url, model = parse_upstream(spec)
        if name in parsed:
            raise InvalidInputError(f"--upstream {name!r} is given twice; keep one URL per model name.")
        parsed[name] = (url, model)
    if not parsed and (key_envs or local_weights):
        raise InvalidInputError("--upstream-key-env and --local-weights need at least one --upstream NAME=URL.")
    keys, default_key = _mapping(key_envs, "--upstream-key-env", set(parsed))
    weights, _ = _mapping(local_weights, "--local-weights", set(parsed))
    return {
        name: Upstream(name, url, model, keys.get(name, default_key), weights.get(name))
        for name, (url, model) in parsed.items()
    }


def upstreams_of(settings: Settings) -> dict[str, Upstream]:
    """The upstreams configured in ``settings`` (flags, variables and the config file)."""
    return build_upstreams(settings.upstreams, settings.upstream_key_env, settings.local_weights)
