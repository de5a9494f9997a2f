"""The `assay` command line, generated from the stage registry (`pipeline.stages.all_stages`) plus the embedded corpus
builder and the demo."""
from __future__ import annotations

import typer

from pipeline.cli.commands import stage_command
from pipeline.stages import all_stages

app = typer.Typer(
    name="assay",
    help="Data-quality and synthetic-data pipeline for LM pretraining research. Every stage runs on this machine "
         "(a local process pool) or, with --address, on a Ray cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_stages(app: typer.Typer) -> None:
    groups: dict[str, typer.Typer] = {}
    for spec in all_stages().values():
        target = app
        if spec.group:
            if spec.group not in groups:
                groups[spec.group] = typer.Typer(help=f"{spec.group} commands.", no_args_is_help=True)
                app.add_typer(groups[spec.group], name=spec.group)
            target = groups[spec.group]
        target.command(spec.command or spec.name, help=spec.help)(stage_command(spec))


from pipeline.cli import corpus, demo  # noqa: E402

corpus.register(app)
_register_stages(app)
demo.register(app)


def main() -> None:  # pragma: no cover
    app()
