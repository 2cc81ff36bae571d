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
- ``PELLUCID_ENRICH_FEATURES``: a dictionary folder; ``pellucid serve`` then also stores each logged
  response's strongest features of that dictionary in the background (see
  ``pellucid.service.feature_enrichment``).
- ``PELLUCID_FEATURES``: dictionary folders (separated by ``os.pathsep``) the workbench's Features tab
  and ``/api/features`` serve (the ``PELLUCID_ENRICH_FEATURES`` folder is served too).
- ``PELLUCID_TRANSCODERS``: transcoder folders (separated by ``os.pathsep``; each holds one
  transcoder per layer, ``pellucid features train --transcoder --layers all``) the workbench's
  attribution graphs and ``/api/graphs`` use.
- ``PELLUCID_UPSTREAM_CONFIG``: a TOML file listing upstreams and timeouts (see
  :func:`read_upstream_config`); its entries are added to those of the variables and flags.
- ``PELLUCID_UPSTREAM_CONNECT_TIMEOUT``, ``PELLUCID_UPSTREAM_READ_TIMEOUT``,
  ``PELLUCID_UPSTREAM_TOTAL_TIMEOUT``: seconds proxy mode waits for a connection (10), for each
  read from the upstream (300) and for a whole call, streams included (900).
- ``PELLUCID_SERVE_LOCAL``: ``1`` lets a proxying gateway also answer, with local models, calls
  naming a model that is not proxied (default ``0``: every ``/v1`` call goes upstream).
- ``PELLUCID_BATCHING``: ``1`` (default) serves local models through one continuously batched decode
  loop per model (see ``pellucid.models.batching``); ``0`` generates each request in its own thread.
- ``PELLUCID_MAX_BATCH`` / ``PELLUCID_MAX_QUEUE``: most requests decoded together per model (16) and
  most waiting for a slot (64; one more is answered 429 with ``Retry-After``).
- ``PELLUCID_OTLP_ENDPOINT``, ``PELLUCID_OTLP_HEADERS``: export every logged call as an OTLP span
  to this traces URL, with comma-separated ``KEY=VALUE`` headers (see ``pellucid.serve.otlp_export``).
- ``PELLUCID_DURABLE``: ``1`` journals each gateway call's record to disk (group-committed
  ``fdatasync``) before the answer's last byte is sent, and replays the journal after a crash
  (default ``0``: records are queued in memory and stored within about 0.25 s; see
  ``pellucid.monitor.durable``).
- ``PELLUCID_DURABLE_WINDOW_MS``: how long a durable group commit waits for more records before
  syncing, in milliseconds (default 0: only the time a sync takes groups them).
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
    #: TOML file with ``[[upstream]]`` entries and ``[timeouts]`` (see read_upstream_config)
    upstream_config: Path | None = None
    #: proxy mode: seconds to wait for a connection / each read / a whole call (None: the file's, else the default)
    upstream_connect_timeout: float | None = None
    upstream_read_timeout: float | None = None
    upstream_total_timeout: float | None = None
    #: proxy mode: calls naming a model that is not proxied are answered locally
    serve_local: bool = False
    #: serve local models through one continuously batched decode loop per model (False: a thread per request)
    batching: bool = True
    #: most requests decoded together per model
    max_batch: int = 16
    #: most requests waiting for a batch slot per model (one more: 429 with Retry-After)
    max_queue: int = 64
    #: a dictionary folder whose features enrichment stores for each logged response (None: off)
    enrich_features: Path | None = None
    #: dictionary folders served to the workbench (``/api/features``), besides ``enrich_features``
    feature_dictionaries: tuple[Path, ...] = ()
    #: transcoder sets (one folder of per-layer transcoders each) the workbench's graphs use (``/api/graphs``)
    transcoders: tuple[Path, ...] = ()
    #: OpenTelemetry out: OTLP/HTTP traces URL every logged call is exported to (None: off)
    otlp_endpoint: str | None = None
    #: ``KEY=VALUE`` headers sent with each OTLP export (e.g. an API key)
    otlp_headers: tuple[str, ...] = ()
    #: journal every gateway record to disk before answering, replay it after a crash
    durable: bool = False
    #: milliseconds a durable group commit waits for more records before syncing
    durable_window_ms: float = 0.0

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
        values = {**_env_values(env), **_env_lists_and_numbers(env)}
        settings = cls(**values).with_overrides(**overrides)
        config = overrides.get("upstream_config") or env.get("PELLUCID_UPSTREAM_CONFIG")
        return settings.with_upstream_config(Path(config).expanduser()) if config else settings

    def with_upstream_config(self, path: Path) -> Settings:
        """A copy with the proxy entries of the TOML file ``path`` added (see :func:`read_upstream_config`).

        The file's upstreams, keys and weights come before those already set; a timeout already
        set (by a flag or a variable) wins over the file's.
        """
        found = read_upstream_config(path)
        merged: dict[str, Any] = {"upstream_config": path}
        for name in ("upstreams", "upstream_key_env", "local_weights"):
            merged[name] = (*found.get(name, ()), *getattr(self, name))
        for name in ("upstream_connect_timeout", "upstream_read_timeout", "upstream_total_timeout"):
            if getattr(self, name) is None and name in found:
                merged[name] = found[name]
        return replace(self, **merged)


#: ``[timeouts]`` keys of an upstream config file, and the setting each fills.
_TIMEOUT_KEYS = {
    "connect": "upstream_connect_timeout",
    "read": "upstream_read_timeout",
    "total": "upstream_total_timeout",
}
_UPSTREAM_KEYS = ("name", "url", "model", "key_env", "local_weights")


def read_upstream_config(path: Path) -> dict[str, Any]:
    """The proxy settings of a TOML file, as ``Settings`` fields (``NAME=VALUE`` lists, seconds).

    One table per proxied model, and optional timeouts for all of them::

        [timeouts]            # seconds; each may be left out
        connect = 5
        read = 120
        total = 600

        [[upstream]]
        name = "llama"                        # what clients put in "model"
        url = "http://127.0.0.1:8001/v1"      # the server's API base
        model = "meta-llama/Llama-3.2-1B"     # optional: the name the upstream knows
        key_env = "LLAMA_KEY"                 # optional: variable holding its API key
        local_weights = "/models/llama-1b"    # optional: weights to explain its records

    A missing file, bad TOML, an unknown key or a missing name or URL is an error naming it.
    """
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"Upstream config {str(path)!r} cannot be read ({exc.strerror or exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"Upstream config {str(path)!r} is not valid TOML ({exc}).") from None
    unknown = sorted(set(data) - {"upstream", "timeouts"})
    if unknown:
        raise InvalidInputError(
            f"Upstream config {str(path)!r}: unknown table(s) {unknown}; use [[upstream]] and [timeouts]."
        )
    out: dict[str, Any] = {"upstreams": [], "upstream_key_env": [], "local_weights": []}
    entries = data.get("upstream", [])
    if not isinstance(entries, list):
        raise InvalidInputError(
            f"Upstream config {str(path)!r}: write each model as an [[upstream]] table (double brackets)."
        )
    for i, entry in enumerate(entries, 1):
        _upstream_entry(path, i, entry, out)
    timeouts = data.get("timeouts", {})
    bad = sorted(set(timeouts) - set(_TIMEOUT_KEYS)) if isinstance(timeouts, dict) else ["(not a table)"]
    if bad:
        raise InvalidInputError(
            f"Upstream config {str(path)!r}: [timeouts] has {bad}; allowed keys: connect, read, total."
        )
    for key, value in timeouts.items():
        out[_TIMEOUT_KEYS[key]] = positive_seconds(f"[timeouts] {key} in {path}", str(value))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def _upstream_entry(path: Path, index: int, entry: Any, out: dict[str, Any]) -> None:
    """One ``[[upstream]]`` table appended to ``out``'s ``NAME=VALUE`` lists."""
    where = f"Upstream config {str(path)!r}, [[upstream]] number {index}"
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where} is not a table.")
    unknown = sorted(set(entry) - set(_UPSTREAM_KEYS))
    if unknown:
        raise InvalidInputError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(_UPSTREAM_KEYS)}.")
    for key in _UPSTREAM_KEYS:
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            raise InvalidInputError(f"{where}: {key} = {entry[key]!r} must be a non-empty string.")
    if "name" not in entry or "url" not in entry:
        raise InvalidInputError(f'{where} needs name and url, e.g. name = "llama", url = "http://127.0.0.1:8001/v1".')
    name = entry["name"].strip()
    out["upstreams"].append(
        f"{name}={entry['url'].strip()}" + (f"#{entry['model'].strip()}" if "model" in entry else "")
    )
    if "key_env" in entry:
        out["upstream_key_env"].append(f"{name}={entry['key_env'].strip()}")
    if "local_weights" in entry:
        out["local_weights"].append(f"{name}={entry['local_weights'].strip()}")


def positive_seconds(name: str, value: str) -> float:
    """A positive number of seconds, or an error naming the setting."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidInputError(f"{name}={value!r} is not a positive number of seconds; set it to e.g. 30 or unset it.")
    return seconds


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


def _window_ms(value: str) -> float:
    """``PELLUCID_DURABLE_WINDOW_MS``: 0 to 1000 milliseconds."""
    try:
        window = float(value)
    except ValueError:
        window = float("nan")
    if not 0 <= window <= 1000:
        raise InvalidInputError(
            f"PELLUCID_DURABLE_WINDOW_MS={value!r} is not a number of milliseconds from 0 to 1000; "
            "set it to e.g. 2, or unset it (0: no wait)."
        )
    return window


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


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as one ``PELLUCID_*`` variable each: paths, names, flags and seconds."""
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
    if env.get("PELLUCID_DURABLE"):
        values["durable"] = _flag("PELLUCID_DURABLE", env["PELLUCID_DURABLE"])
    if env.get("PELLUCID_DURABLE_WINDOW_MS"):
        values["durable_window_ms"] = _window_ms(env["PELLUCID_DURABLE_WINDOW_MS"])
    if env.get("PELLUCID_SERVE_LOCAL"):
        values["serve_local"] = _flag("PELLUCID_SERVE_LOCAL", env["PELLUCID_SERVE_LOCAL"])
    for name in ("CONNECT", "READ", "TOTAL"):
        variable = f"PELLUCID_UPSTREAM_{name}_TIMEOUT"
        if env.get(variable):
            values[variable.removeprefix("PELLUCID_").lower()] = positive_seconds(variable, env[variable])
    if env.get("PELLUCID_ENRICH_FEATURES"):
        values["enrich_features"] = Path(env["PELLUCID_ENRICH_FEATURES"].strip()).expanduser()
    for variable, key in (("PELLUCID_FEATURES", "feature_dictionaries"), ("PELLUCID_TRANSCODERS", "transcoders")):
        if env.get(variable):
            folders = env[variable].split(os.pathsep)
            values[key] = tuple(Path(f.strip()).expanduser() for f in folders if f.strip())
    if env.get("PELLUCID_OTLP_ENDPOINT"):
        values["otlp_endpoint"] = env["PELLUCID_OTLP_ENDPOINT"].strip()
    return values


def _env_lists_and_numbers(env: Mapping[str, str]) -> dict[str, Any]:
    """The comma-separated lists and the whole numbers among the ``PELLUCID_*`` variables."""
    values: dict[str, Any] = {}
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
    return values
