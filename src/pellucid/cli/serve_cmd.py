"""``pellucid serve``: the API (and workbench) on the bundled model, on 127.0.0.1 by default."""

from __future__ import annotations

import typer

from pellucid.cli.common import ModelOption, err_console, handle_errors, settings_from


@handle_errors
def serve(
    ctx: typer.Context,
    model: str | None = ModelOption,
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    preload: bool = typer.Option(True, help="Load the model before accepting requests."),
) -> None:
    """Start the Pellucid server: health page, REST API, model endpoints."""
    import uvicorn

    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    settings = settings_from(ctx).with_overrides(host=host, port=port, default_model=model)
    pool = ModelPool(settings)
    if preload:
        with err_console.status(f"Loading {settings.default_model}…"):
            pool.get()
    app = create_app(settings, pool)
    err_console.print(f"Pellucid on [bold]http://{settings.host}:{settings.port}[/] (Ctrl+C to stop)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
