"""Root of the ``pellucid`` command: global options build the Settings once, then dispatch."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from pellucid.cli import (
    audit_cmd,
    cot_cmd,
    counterfactual_cmd,
    eval_cmd,
    explain_cmd,
    faithfulness_cmd,
    features_cmd,
    generate_cmd,
    injection_cmd,
    inspect_cmd,
    models_cmd,
    monitor_cmd,
    robustness_cmd,
    serve_cmd,
)
from pellucid.settings import Settings

app = typer.Typer(
    name="pellucid",
    help="Explain, audit and monitor open-weight language models, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, envvar="PELLUCID_HOME", help="Pellucid home (models cache, database)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar="", help="Log progress to stderr."),
) -> None:
    """Global options."""
    from pellucid.cli.common import fit_output

    fit_output()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Settings.from_env(home=home)


app.command("models")(models_cmd.models)
app.command("generate")(generate_cmd.generate)
app.command("score")(generate_cmd.score)
app.command("explain")(explain_cmd.explain)
app.command("methods")(explain_cmd.methods)
app.command("faithfulness")(faithfulness_cmd.faithfulness)
app.command("counterfactual")(counterfactual_cmd.counterfactual)
app.command("generators")(counterfactual_cmd.generators)
app.command("robustness")(robustness_cmd.robustness)
app.command("injection")(injection_cmd.injection)
app.command("cot")(cot_cmd.cot)
app.command("card")(audit_cmd.card)
app.command("serve")(serve_cmd.serve)
app.add_typer(inspect_cmd.app, name="inspect")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(features_cmd.app, name="features")


def main() -> None:
    from pellucid.errors import PellucidError

    try:
        app()
    except PellucidError as exc:  # errors raised while building settings
        from pellucid.cli.common import fail

        raise SystemExit(fail(str(exc)).exit_code) from None
