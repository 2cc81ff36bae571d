"""``pellucid serve``: the API, the OpenAI-compatible logging gateway and the workbench, on 127.0.0.1 by default.

The monitoring store (``PELLUCID_DATABASE_URL``, default SQLite in the Pellucid home) is opened
before anything else, so a wrong URL or an unreachable database fails at once with the URL
(password hidden) and the reason. On a clean shutdown (Ctrl+C, SIGTERM) the app writes every
record still queued before the store is closed.

Exposure: on a loopback address (the default) no token is needed. Binding any other address
needs ``PELLUCID_API_TOKEN``; without it a token is generated and printed once on stderr. With a
token every ``/api`` and ``/v1`` route (except ``/api/health``) checks it; see
:mod:`pellucid.serve.security`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pellucid.cli.common import ModelOption, err_console, handle_errors, settings_from
from pellucid.settings import switch

if TYPE_CHECKING:
    from pellucid.serve.upstreams import Upstream
    from pellucid.settings import Settings


HostOption = typer.Option(None, help="Address to bind (default 127.0.0.1).")
PortOption = typer.Option(None, help="Port (default 8000).")
PreloadOption = typer.Option(True, metavar="", help="Load the model before accepting requests.")
DatabaseUrlOption = typer.Option(
    None, "--database-url", help="Monitoring store URL (default: PELLUCID_DATABASE_URL or SQLite in the home)."
)
RedactPiiOption = typer.Option(
    None, "--redact-pii/--no-redact-pii", help="Redact personal data before storage (PELLUCID_REDACT_PII)."
)
DurableOption = typer.Option(
    None,
    "--durable/--no-durable",
    help="Journal each call's record to disk before its answer ends, and replay it after a crash "
    "(PELLUCID_DURABLE; costs one shared fdatasync per call).",
)
BackgroundOption = typer.Option(
    True,
    "--background/--no-background",
    metavar="",
    help="Run the enrichment worker and alert scheduler in the server.",
)
UpstreamOption = typer.Option(
    None,
    "--upstream",
    help="Proxy mode: forward /v1 calls for model NAME to the OpenAI-compatible server at URL "
    "(NAME=URL, e.g. llama=http://127.0.0.1:8001/v1; NAME=URL#MODEL renames it upstream). Repeatable.",
)
UpstreamKeyEnvOption = typer.Option(
    None,
    "--upstream-key-env",
    help="NAME=VAR (or VAR for all): environment variable holding an upstream's API key.",
)
LocalWeightsOption = typer.Option(
    None,
    "--local-weights",
    help="NAME=PATH_OR_BUNDLED_NAME: local weights of a proxied model, to explain its records and count tokens.",
)
UpstreamConfigOption = typer.Option(
    None,
    "--upstream-config",
    help="TOML file of proxied models ([[upstream]] name, url, model, key_env, local_weights) and "
    "[timeouts] connect, read, total (PELLUCID_UPSTREAM_CONFIG).",
)
UpstreamConnectTimeoutOption = typer.Option(
    None, "--upstream-connect-timeout", help="Seconds to wait for a connection to an upstream (default 10)."
)
UpstreamReadTimeoutOption = typer.Option(
    None, "--upstream-read-timeout", help="Seconds to wait for each read from an upstream (default 300)."
)
UpstreamTotalTimeoutOption = typer.Option(
    None, "--upstream-total-timeout", help="Seconds a whole proxied call may take, streams included (default 900)."
)
ServeLocalOption = typer.Option(
    None,
    "--serve-local/--no-serve-local",
    help="With --upstream: also answer calls naming a model that is not proxied with local models "
    "(PELLUCID_SERVE_LOCAL).",
)
BatchingOption = typer.Option(
    None,
    "--batching",
    help="on (default): one continuously batched decode loop per local model; off: a thread per request "
    "(PELLUCID_BATCHING).",
)
MaxBatchOption = typer.Option(
    None, "--max-batch", min=1, help="Most requests decoded together per model (default 16; PELLUCID_MAX_BATCH)."
)
MaxQueueOption = typer.Option(
    None,
    "--max-queue",
    min=0,
    help="Most requests waiting for a batch slot per model; one more gets 429 (default 64; PELLUCID_MAX_QUEUE).",
)
OtlpEndpointOption = typer.Option(
    None,
    "--otlp-endpoint",
    help="Export every logged call as an OpenTelemetry span to this OTLP/HTTP traces URL "
    "(e.g. http://127.0.0.1:4318/v1/traces; PELLUCID_OTLP_ENDPOINT, headers in PELLUCID_OTLP_HEADERS).",
)

FeaturesOption = typer.Option(
    None,
    "--features",
    help="A dictionary folder (SAELens layout) the workbench's Features tab serves. Repeatable "
    "(PELLUCID_FEATURES, folders separated by the path separator).",
)

TranscodersOption = typer.Option(
    None,
    "--transcoders",
    help="A folder of per-layer transcoders (features train --transcoder --layers all) the workbench's "
    "attribution graphs use. Repeatable (PELLUCID_TRANSCODERS, folders separated by the path separator).",
)


@handle_errors
def serve(
    ctx: typer.Context,
    model: str | None = ModelOption,
    host: str | None = HostOption,
    port: int | None = PortOption,
    preload: bool = PreloadOption,
    database_url: str | None = DatabaseUrlOption,
    redact_pii: bool | None = RedactPiiOption,
    durable: bool | None = DurableOption,
    background: bool = BackgroundOption,
    upstream: list[str] | None = UpstreamOption,
    upstream_key_env: list[str] | None = UpstreamKeyEnvOption,
    local_weights: list[str] | None = LocalWeightsOption,
    upstream_config: Path | None = UpstreamConfigOption,
    upstream_connect_timeout: float | None = UpstreamConnectTimeoutOption,
    upstream_read_timeout: float | None = UpstreamReadTimeoutOption,
    upstream_total_timeout: float | None = UpstreamTotalTimeoutOption,
    serve_local: bool | None = ServeLocalOption,
    batching: str | None = BatchingOption,
    max_batch: int | None = MaxBatchOption,
    max_queue: int | None = MaxQueueOption,
    otlp_endpoint: str | None = OtlpEndpointOption,
    features: list[Path] | None = FeaturesOption,
    transcoders: list[Path] | None = TranscodersOption,
) -> None:
    """Start the Pellucid server: health page, REST API, /v1 gateway (every call logged)."""
    from pellucid.settings import positive_seconds

    timeouts = {"connect": upstream_connect_timeout, "read": upstream_read_timeout, "total": upstream_total_timeout}
    settings = settings_from(ctx).with_overrides(
        host=host, port=port, default_model=model, database_url=database_url, redact_pii=redact_pii,
        durable=durable, upstreams=tuple(upstream) if upstream else None,
        upstream_key_env=tuple(upstream_key_env) if upstream_key_env else None,
        local_weights=tuple(local_weights) if local_weights else None, otlp_endpoint=otlp_endpoint,
        serve_local=serve_local, **{
            f"upstream_{name}_timeout": positive_seconds(f"--upstream-{name}-timeout", str(value))
            for name, value in timeouts.items() if value is not None
        },
        batching=None if batching is None else switch("--batching", batching), max_batch=max_batch, max_queue=max_queue,
        feature_dictionaries=tuple(f.expanduser() for f in features) if features else None,
        transcoders=tuple(f.expanduser() for f in transcoders) if transcoders else None,
    )  # fmt: skip
    if upstream_config is not None:
        settings = settings.with_upstream_config(upstream_config.expanduser())
    settings, proxied = _checked(settings)
    _run(settings, proxied, preload=preload, background=background)


def _checked(settings: Settings) -> tuple[Settings, dict[str, Upstream]]:
    """The settings with an API token, and the proxied models; those and the OTLP endpoint are checked first.

    A token generated for a non-loopback address is printed once on stderr.
    """
    from pellucid.serve.otlp_export import check_settings
    from pellucid.serve.security import ensure_token
    from pellucid.serve.upstreams import upstreams_of
    from pellucid.service.graph_views import check_transcoder_sets

    proxied = upstreams_of(settings)
    check_transcoder_sets(settings.transcoders)  # a bad folder fails at startup, as `inspect graph` would
    check_settings(settings.otlp_endpoint, settings.otlp_headers)  # a bad URL fails before the store opens
    settings, generated = ensure_token(settings)
    if generated is not None:
        err_console.print(
            f"{settings.host} is reachable from other machines, so /api and /v1 need this API token "
            f"(shown once; set PELLUCID_API_TOKEN to choose your own):\n[bold]{generated}[/]",
            highlight=False,
            soft_wrap=True,
        )
    return settings, proxied


def _run(settings: Settings, proxied: dict[str, Upstream], *, preload: bool, background: bool) -> None:
    """Open the store, load the default model if asked, and serve until stopped; the store closes last."""
    import uvicorn

    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    store = Store.open(settings.resolved_database_url)  # raises StoreConnectionError naming the URL
    try:
        pool = ModelPool(settings)
        if preload and (not proxied or settings.serve_local):  # proxy mode loads weights when a record needs them
            with err_console.status(f"Loading {settings.default_model}…"):
                pool.get()
        app = create_app(settings, pool, store, background=background)
        err_console.print(_banner(settings, proxied, store.url), highlight=False)
        settle_heap()
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        store.close()


#: Allocations between two collections of the garbage collector's youngest generation while serving
#: (Python's default is 700). See :func:`settle_heap`.
YOUNG_COLLECTION_EVERY = 20_000


def settle_heap() -> None:
    """Tune the garbage collector for serving, once start-up is done.

    The server starts with about 270,000 objects from its imports (PyTorch among them); a full
    collection walks all of them (about 100 ms on a 2-core machine) although none of them will
    ever be garbage, and every call allocates many short-lived objects; with the default
    thresholds the collector took about 6 % of the event loop's time at 50 streaming proxied
    clients. ``gc.freeze()`` moves what start-up made out of the collector's sight, and a larger
    first threshold collects the young objects less often (each collection still finds every
    cycle; only later).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


def _banner(settings: Settings, proxied: dict[str, Upstream], store_url: str) -> str:
    """The line printed once the server starts: where it listens and what it does with each call."""
    return (
        f"Pellucid on [bold]http://{settings.host}:{settings.port}[/] (Ctrl+C to stop); "
        f"OpenAI-compatible API at /v1"
        + (f" proxied to {', '.join(f'{u.name}={u.base_url}' for u in proxied.values())}" if proxied else "")
        + f"; calls logged to {store_url}"
        + (" with PII redaction" if settings.redact_pii else "")
        + (" (durable: journaled before each answer ends)" if settings.durable else "")
        + (f"; batching up to {settings.max_batch} requests per model" if settings.batching else "; no batching")
        + (f"; spans exported to {settings.otlp_endpoint}" if settings.otlp_endpoint else "")
        + ("; token required on /api and /v1" if settings.api_token else "")
    )
