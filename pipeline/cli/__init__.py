"""The `assay` command line: one subcommand per stage. Each stage module registers its commands here."""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="assay",
    help="Data-quality and synthetic-data pipeline for LM pretraining research. Every stage runs locally on a "
         "private Ray instance (127.0.0.1) or, with --address, on a cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines register(app). Order = order in --help.
for _name in ("corpus", "curate", "dedupe", "measure", "scaling", "demo"):
    try:
        _mod = importlib.import_module(f"pipeline.cli.{_name}")
    except ModuleNotFoundError as _e:  # a stage not installed in this checkout
        if _e.name != f"pipeline.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:  # pragma: no cover
    app()
