"""`assay demo`: the main job end to end on the embedded default corpus (what `make demo` runs)."""
from __future__ import annotations

from typing import Optional

import typer

from pipeline.cli.commands import ADDRESS_HELP, one_line_errors


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        output: str = typer.Option("runs/demo", "--output", "-o", help="Output dir for every step."),
        docs: int = typer.Option(6000, help="Pages in the embedded corpus."),
        seed: int = typer.Option(0, help="Corpus seed."),
        address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
        ablate: bool = typer.Option(True, "--ablate/--no-ablate", help="Train students and fit after curation."),
        debug: bool = typer.Option(False, "--debug", help="Show the full traceback of a failure."),
    ):
        """Build the embedded corpus, curate it, make raw/deduped/filtered arms, train tiny students on each,
        fit L(N,D) per arm and write the report (resumable)."""
        from pipeline.demo import run_demo

        with one_line_errors(debug):
            run_demo(output, docs=docs, seed=seed, address=address, ablate=ablate)
