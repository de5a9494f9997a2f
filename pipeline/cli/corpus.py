"""``assay corpus build``: write the embedded CommonCrawl-like corpus (WARC files + _truth.jsonl)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``corpus`` command group to ``app``."""
    corpus_app = typer.Typer(help="The embedded default corpus: CommonCrawl-like WARC files built offline.",
                             no_args_is_help=True)

    @corpus_app.command("build")
    def build(
        out: Path = typer.Option(..., "--output", "-o", help="Output folder for corpus-NNNNN.warc.gz and the "
                                                             "side files _truth.jsonl, _corpus.json."),
        docs: int = typer.Option(3000, "--docs", min=1, help="Number of pages (WARC response records)."),
        seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives byte-identical files."),
        docs_per_file: int = typer.Option(1000, "--docs-per-file", min=1, help="Pages per WARC file."),
        workers: int = typer.Option(1, "--workers", min=1, help="Processes writing files (output is the same)."),
    ) -> None:
        """Build a corpus of prose pages mixed with crawl junk and duplicates, with a ground-truth sidecar."""
        from pipeline.corpus import build_corpus

        res = build_corpus(out, docs=docs, seed=seed, docs_per_file=docs_per_file, workers=workers)
        mix = ", ".join(f"{k} {v}" for k, v in res["counts"].items() if v)
        typer.echo(f"wrote {res['docs']} pages in {len(res['files'])} files to {out} "
                   f"({res['bytes'] / 1e6:.1f} MB, {res['wall_s']:.1f} s): {mix}")

    app.add_typer(corpus_app, name="corpus")
