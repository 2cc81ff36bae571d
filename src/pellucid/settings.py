"""Settings, built once from environment variables and flags, then passed down.

Nothing in Pellucid reads the environment at import time: entry points call
``Settings.from_env()`` (optionally with overrides from command-line flags) and hand the
result to the functions they call.

Environment variables:

- ``PELLUCID_HOME``: where converted models and the default database live (``~/.pellucid``).
- ``PELLUCID_DATABASE_URL``: SQLAlchemy URL of the monitoring store
  (default: SQLite in the home).
- ``PELLUCID_DEVICE``: torch device (``cpu``).
- ``PELLUCID_THREADS``: torch intra-op threads (default: torch's own choice).
- ``PELLUCID_FAST_KERNELS``: which kernels run fp32 linear layers on the CPU: ``auto`` (default:
  oneDNN's where a one-off measurement finds them faster than PyTorch's default, e.g. AMD CPUs),
  ``1`` (oneDNN's wherever present) or ``0`` (PyTorch's default); see ``pellucid.models.fast_linear``.
- ``PELLUCID_MODEL``: default model name (``smollm2-135m-instruct``).
- ``PELLUCID_HOST`` / ``PELLUCID_PORT``: where ``pellucid serve`` binds (127.0.0.1:8000).
- ``PELLUCID_OFFLINE``: ``0`` lets hub ids download from the Hugging Face hub (default ``1``:
  only the local cache is used, and a missing model fails at once).
- ``PELLUCID_REDACT_PII``: ``1`` replaces e-mails, phone numbers, card numbers, IBANs, IP
  addresses and US SSNs in logged prompts and responses before they are stored (default ``0``).
- ``PELLUCID_API_TOKEN``: when set, every ``/api`` and ``/v1`` route (except ``/api/health``)
  needs ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. ``pellucid serve`` makes one
  up when it binds a non-loopback address without it.
- ``PELLUCID_CORS_ORIGINS``: comma-separated origins allowed to call the API from a browser
  (default: none, CORS off).
- ``PELLUCID_MAX_BODY_BYTES``: largest request body accepted (default 1 MiB; larger: 413).
- ``PELLUCID_MAX_PROMPT_CHARS``: longest prompt a ``/v1`` call may send, in characters
  (default 100,000; longer: 400).
- ``PELLUCID_ALLOW_MODEL_PATHS``: folders (separated by ``os.pathsep``) whose models an HTTP
  request may name by path; by default requests can only name configured, bundled or
  already-loaded models.
- ``PELLUCID_UPSTREAMS``, ``PELLUCID_UPSTREAM_KEY_ENV``, ``PELLUCID_LOCAL_WEIGHTS``: proxy mode,
  comma-separated ``NAME=URL`` / ``NAME=VAR`` / ``NAME=WEIGHTS`` entries (see
  ``pellucid.serve.upstreams``).
- ``PELLUCID_BATCHING``: ``1`` (default) serves local models through one continuously batched decode
  loop per model (see ``pellucid.models.batching``); ``0`` generates each request in its own thread.
- ``PELLUCID_MAX_BATCH`` / ``PELLUCID_MAX_QUEUE``: most requests decoded together per model (16) and
  most waiting for a slot (64; one more is answered 429 with ``Retry-After``).
- ``PELLUCID_OTLP_ENDPOINT``, ``PELLUCID_OTLP_HEADERS``: export every logged call as an OTLP span
  to this traces URL, with comma-separated ``KEY=VALUE`` headers (see ``pellucid.serve.otlp_export``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class Settings:
    """Configuration shared by the CLI, the server and the library."""

    home: Path = field(default_factory=lambda: Path.home() / ".pellucid")
    database_url: str | None = None
    device: str = "cpu"
    threads: int | None = None
    #: fp32 linear layers on the CPU through oneDNN: "auto", "on" or "off" (see pellucid.models.fast_linear)
    fast_kernels: str = "auto"
    default_model: str = DEFAULT_MODEL
    host: str = "127.0.0.1"
    port: int = 8000
    #: never contact a model hub: hub ids load only from the local Hugging Face cache
    offline: bool = True
    #: redact personal data (see ``pellucid.audit.pii``) from monitoring records before storage
    redact_pii: bool = False
    #: bearer token required on /api and /v1 (None: no authentication, loopback only)
    api_token: str | None = None
    #: browser origins allowed by CORS (empty: CORS off)
    cors_origins: tuple[str, ...] = ()
    #: largest request body in bytes (413 beyond)
    max_body_bytes: int = 1_048_576
    #: longest /v1 prompt in characters, all messages together (400 beyond)
    max_prompt_chars: int = 100_000
    #: folders whose models requests may name by path (empty: none)
    allow_model_paths: tuple[Path, ...] = ()
    #: proxy mode: ``NAME=URL[#MODEL]`` entries (see pellucid.serve.upstreams)
    upstreams: tuple[str, ...] = ()
    #: ``NAME=VAR`` (or ``VAR`` for all): where each upstream's API key is read from
    upstream_key_env: tuple[str, ...] = ()
    #: ``NAME=PATH_OR_BUNDLED_NAME``: local weights of a proxied model
    local_weights: tuple[str, ...] = ()
    #: serve local models through one continuously batched decode loop per model (False: a thread per request)
    batching: bool = True
    #: most requests decoded together per model
    max_batch: int = 16
    #: most requests waiting for a batch slot per model (one more: 429 with Retry-After)
    max_queue: int = 64
    #: OpenTelemetry out: OTLP/HTTP traces URL every logged call is exported to (None: off)
    otlp_endpoint: str | None = None
    #: ``KEY=VALUE`` headers sent with each OTLP export (e.g. an API key)
    otlp_headers: tuple[str, ...] = ()

    @property
    def models_dir(self) -> Path:
        """Folder holding converted (safetensors) copies of models."""
        return self.home / "models"

    @property
    def resolved_database_url(self) -> str:
        """The store's URL: the configured one, or SQLite inside the home."""
        return self.database_url or f"sqlite:///{self.home / 'pellucid.db'}"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser()
        return replace(self, **values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``PELLUCID_*`` variables, then apply explicit overrides (flags win)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("PELLUCID_HOME"):
            values["home"] = Path(env["PELLUCID_HOME"]).expanduser()
        if env.get("PELLUCID_DATABASE_URL"):
            values["database_url"] = env["PELLUCID_DATABASE_URL"]
        if env.get("PELLUCID_DEVICE"):
            values["device"] = env["PELLUCID_DEVICE"]
        if env.get("PELLUCID_MODEL"):
            values["default_model"] = env["PELLUCID_MODEL"]
        if env.get("PELLUCID_HOST"):
            values["host"] = env["PELLUCID_HOST"]
        if env.get("PELLUCID_OFFLINE"):
            values["offline"] = env["PELLUCID_OFFLINE"].strip().lower() not in ("0", "false", "no", "off")
        if env.get("PELLUCID_FAST_KERNELS"):
            values["fast_kernels"] = _kernel_mode(env["PELLUCID_FAST_KERNELS"])
        if env.get("PELLUCID_REDACT_PII"):
            values["redact_pii"] = _flag("PELLUCID_REDACT_PII", env["PELLUCID_REDACT_PII"])
        if env.get("PELLUCID_API_TOKEN"):
            values["api_token"] = env["PELLUCID_API_TOKEN"].strip()
        if env.get("PELLUCID_BATCHING"):
            values["batching"] = _flag("PELLUCID_BATCHING", env["PELLUCID_BATCHING"])
        if env.get("PELLUCID_CORS_ORIGINS"):
            values["cors_origins"] = tuple(o.strip() for o in env["PELLUCID_CORS_ORIGINS"].split(",") if o.strip())
        if env.get("PELLUCID_ALLOW_MODEL_PATHS"):
            folders = env["PELLUCID_ALLOW_MODEL_PATHS"].split(os.pathsep)
            values["allow_model_paths"] = tuple(Path(f).expanduser() for f in folders if f.strip())
        if env.get("PELLUCID_OTLP_ENDPOINT"):
            values["otlp_endpoint"] = env["PELLUCID_OTLP_ENDPOINT"].strip()
        lists = ("PELLUCID_UPSTREAMS", "PELLUCID_UPSTREAM_KEY_ENV", "PELLUCID_LOCAL_WEIGHTS", "PELLUCID_OTLP_HEADERS")
        for name in lists:
            if env.get(name):
                values[name.removeprefix("PELLUCID_").lower()] = tuple(
                    part.strip() for part in env[name].split(",") if part.strip()
                )
        numbers = ("PELLUCID_THREADS", "PELLUCID_PORT", "PELLUCID_MAX_BODY_BYTES", "PELLUCID_MAX_PROMPT_CHARS")
        for name in (*numbers, "PELLUCID_MAX_BATCH", "PELLUCID_MAX_QUEUE"):
            if env.get(name):
                try:
                    values[name.removeprefix("PELLUCID_").lower()] = int(env[name])
                except ValueError:
                    raise InvalidInputError(
                        f"{name}={env[name]!r} is not an integer; set it to a whole number or unset it."
                    ) from None
        return cls(**values).with_overrides(**overrides)


def _kernel_mode(value: str) -> str:
    """``PELLUCID_FAST_KERNELS``: ``auto``, or a boolean (1/true/yes/on or 0/false/no/off)."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return "on" if _flag("PELLUCID_FAST_KERNELS", value) else "off"
    except InvalidInputError:
        raise InvalidInputError(
            f"PELLUCID_FAST_KERNELS={value!r} is not a kernel mode; set it to auto (default: oneDNN where measured "
            "faster), 1 (always oneDNN) or 0 (PyTorch's default kernels)."
        ) from None


def switch(name: str, value: str) -> bool:
    """An on/off option (``--batching off``): on/1/true/yes or off/0/false/no."""
    return _flag(name, value)


def _flag(name: str, value: str) -> bool:
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off."""
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInputError(f"{name}={value!r} is not a boolean; set it to 1 (on) or 0 (off).")
