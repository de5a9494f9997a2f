"""`assay filter` and `assay curate`."""
from __future__ import annotations

from typing import Literal, Optional

import typer

from pipeline.cli.common import ADDRESS_HELP, CONFIG_HELP, load_job, run_or_submit

Extractor = Literal["trafilatura", "resiliparse"]


def _filter_overrides(extractor, languages, lang_threshold, text_field, id_field, workers, annotate_only,
                      from_annotations) -> dict:
    return {
        "extractor": extractor,
        "language": {"languages": [x for x in languages.split(",") if x] if languages is not None else None,
                     "threshold": lang_threshold},
        "reader": {"text_field": text_field, "id_field": id_field},
        "workers": workers,
        "annotate_only": annotate_only or None,
        "from_annotations": from_annotations or None,
    }


def register(app: typer.Typer) -> None:
    @app.command("filter")
    def filter_cmd(
        inputs: list[str] = typer.Argument(..., help="WARC/WET/ARC, JSONL(.gz/.zst), Parquet files, directories, "
                                                     "globs, fsspec URLs or `datasets` save_to_disk dirs."),
        output: str = typer.Option(..., "--output", "-o", help="Output dir: data/, rejects/, quarantine/, "
                                                               "manifest.json."),
        config: Optional[str] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
        extractor: Optional[Extractor] = typer.Option(None, help="HTML extractor (default trafilatura)."),
        languages: Optional[str] = typer.Option(None, help="Comma-separated language codes to keep (default en; "
                                                           "'' keeps all)."),
        lang_threshold: Optional[float] = typer.Option(None, help="Minimum language-ID score (default 0.65)."),
        text_field: Optional[str] = typer.Option(None, help="Text column of JSONL/Parquet inputs (default text)."),
        id_field: Optional[str] = typer.Option(None, help="Id column of JSONL/Parquet inputs (default id)."),
        workers: Optional[int] = typer.Option(None, help="Actor-pool size (default: one per cluster CPU)."),
        annotate_only: bool = typer.Option(False, "--annotate-only", help="Write every signal as a column and "
                                                                          "remove nothing."),
        from_annotations: bool = typer.Option(False, "--from-annotations", help="Inputs are annotated Parquet: "
                                              "re-decide with the current thresholds without recomputing."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
    ):
        """Extract, identify language and quality-filter documents (Gopher, C4, FineWeb, hash dumps)."""
        from pipeline.curate import FilterJob, run_filter

        job = load_job(FilterJob, config, {"inputs": inputs, "output": output, "filter": _filter_overrides(
            extractor, languages, lang_threshold, text_field, id_field, workers, annotate_only, from_annotations)})
        run_or_submit("filter", job, address, lambda j, a: run_filter(j, a, progress))

    @app.command("curate")
    def curate_cmd(
        inputs: list[str] = typer.Argument(..., help="WARC/WET/ARC, JSONL(.gz/.zst), Parquet files, directories, "
                                                     "globs, fsspec URLs or `datasets` save_to_disk dirs."),
        output: str = typer.Option(..., "--output", "-o", help="Output dir: data/, rejects/, quarantine/, "
                                                               "manifest.json."),
        config: Optional[str] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
        extractor: Optional[Extractor] = typer.Option(None, help="HTML extractor (default trafilatura)."),
        languages: Optional[str] = typer.Option(None, help="Comma-separated language codes to keep (default en)."),
        lang_threshold: Optional[float] = typer.Option(None, help="Minimum language-ID score (default 0.65)."),
        text_field: Optional[str] = typer.Option(None, help="Text column of JSONL/Parquet inputs (default text)."),
        id_field: Optional[str] = typer.Option(None, help="Id column of JSONL/Parquet inputs (default id)."),
        workers: Optional[int] = typer.Option(None, help="Actor-pool size (default: one per cluster CPU)."),
        dedupe: Optional[bool] = typer.Option(None, "--dedupe/--no-dedupe", help="Run exact + MinHash dedupe after "
                                                                                 "filtering (default on)."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
    ):
        """Curate a corpus: read, extract, language ID, quality-filter, then exact and near-duplicate removal."""
        from pipeline.curate import CurateJob, run_curate

        job = load_job(CurateJob, config, {"inputs": inputs, "output": output, "dedupe_enabled": dedupe,
                                           "filter": _filter_overrides(extractor, languages, lang_threshold,
                                                                       text_field, id_field, workers, None, None)})
        run_or_submit("curate", job, address, lambda j, a: run_curate(j, a, progress))
