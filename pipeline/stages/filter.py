"""The filter stage: read -> extract HTML -> language ID -> heuristic quality filters -> kept / rejects / quarantine.

Config + step list on the shared shard worker (`pipeline.shard.DocShardWorker`). Modes: normal, `annotate_only`
(every signal as a column, nothing removed) and `from_annotations` (re-decide annotated Parquet with the current
thresholds, recomputing nothing).
"""
from __future__ import annotations

import functools
import time

from pydantic import BaseModel, ConfigDict, Field, model_validator

from filters.chain import HeuristicsConfig, build_heuristic_steps
from filters.langid import LanguageConfig, LanguageID
from filters.quality import FastTextQuality, QualityConfig
from pipeline.extract import ExtractionConfig
from pipeline.quality_scores import histogram_of_files, write_histogram
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Resources, RunEnv, run_shards, shard_extras, sum_counts, sum_steps
from pipeline.shard import DocShardWorker
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import (DocJob, StageResult, SubStage, finish, plan_inputs, prefixed_options,
                                   register_substage, require_parquet, run_env)


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    heuristics: HeuristicsConfig = Field(default_factory=HeuristicsConfig)
    quality: QualityConfig | None = Field(None, description="the fastText quality classifier as a last step; with "
                                                             "from_annotations it re-decides from quality_score "
                                                             "(keep_top: a share of the inputs' global "
                                                             "distribution)")
    annotate_only: bool = Field(False, description="write signals as columns, remove nothing")
    from_annotations: bool = Field(False, description="input is annotated Parquet: re-decide from its columns")
    batch_docs: int = Field(500, gt=0, description="documents per filter batch inside a shard",
                            json_schema_extra={"fingerprint": False})

    @model_validator(mode="after")
    def _modes(self):
        if self.annotate_only and self.from_annotations:
            raise ValueError("annotate_only and from_annotations exclude each other")
        if self.quality is not None and self.quality.keep_top is not None and not self.from_annotations:
            raise ValueError("quality.keep_top needs the global score distribution: score first (`assay classifier "
                             "score`, or a classify: section in curate), then `assay filter --from-annotations "
                             "--keep-top`")
        if self.quality is not None and not self.from_annotations and not self.quality.model:
            raise ValueError("quality.model: a model is needed to score documents")
        return self

    def build_steps(self) -> list:
        """The filter steps of this config, in order: language ID, the heuristics, the quality classifier."""
        steps = [LanguageID(self.language)] if self.language.enabled else []
        steps += build_heuristic_steps(self.heuristics)
        return steps + ([FastTextQuality(self.quality)] if self.quality is not None else [])


class FilterJob(DocJob):
    """`assay filter` / `python -m jobs.filter`: the filter stage alone."""
    model_config = ConfigDict(extra="forbid")
    filter: FilterConfig = Field(default_factory=FilterConfig)


def filter_worker(layout: Layout, cfg: FilterConfig) -> DocShardWorker:
    mode = "redecide" if cfg.from_annotations else "annotate" if cfg.annotate_only else "filter"
    return DocShardWorker(layout, cfg.reader, cfg.build_steps, mode,
                          None if cfg.from_annotations else cfg.extraction, cfg.batch_docs)


def run_filter_shards(files: list[str], layout: Layout, cfg: FilterConfig, resources: Resources,
                      env: RunEnv) -> StageResult:
    """The filter as a (sub-)stage over planned input files."""
    stats = run_shards(files, layout, functools.partial(filter_worker, layout, cfg), env, resources, "filter")
    mode = "annotate" if cfg.annotate_only else "from_annotations" if cfg.from_annotations else "filter"
    return StageResult("filter", sum_counts(stats), sum_steps(stats), shard_extras(stats, mode=mode))


def run_filter(job: FilterJob, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    files = plan_inputs(job.inputs, job.filter.reader)
    if job.filter.from_annotations:
        require_parquet(files, "--from-annotations")
    prepare_output(job.output, "filter", semantic_config(job), files, ctx.overwrite)
    layout = Layout.standalone(job.output, "filter")
    env = run_env(job, ctx)
    cfg, quality = job.filter, {}
    if cfg.quality is not None and cfg.quality.keep_top is not None:
        hist = histogram_of_files(files, 10_000, env, job.resources)
        cfg = cfg.model_copy(update={"quality": cfg.quality.resolve_keep_top(hist)})
        quality = write_histogram(layout.root, hist, cfg.quality.threshold, cfg.quality.keep_top)
    result = run_filter_shards(files, layout, cfg, job.resources, env)
    if quality:
        result.extra["quality"] = quality
    return finish(layout, result, job.model_dump(mode="json"), t0)


FILTER_OPTIONS = (
    Opt(("--extractor",), "extraction.extractor", "HTML extractor: fast (default), trafilatura or resiliparse."),
    Opt(("--extract-timeout",), "extraction.timeout_s", "Hard per-page extraction time limit in seconds "
                                                         "(default 5; the extracting process is killed).", float),
    Opt(("--languages",), "language.languages", "Comma-separated language codes to keep (default en; '' keeps "
                                                "all).", split=True),
    Opt(("--lang-threshold",), "language.threshold", "Minimum language-ID score (default 0.65).", float),
    Opt(("--text-field",), "reader.text_field", "Text field/column of JSONL/Parquet inputs (default text)."),
    Opt(("--id-field",), "reader.id_field", "Id field/column of JSONL/Parquet inputs (default id)."),
)


register(StageSpec(
    name="filter", job=FilterJob, run=run_filter,
    help="Extract, identify language and quality-filter documents (Gopher, C4, FineWeb, hash dumps).",
    options=prefixed_options(FILTER_OPTIONS, "filter") + (
        Opt(("--annotate-only",), "filter.annotate_only", "Write every signal as a column and remove nothing.",
            flag=True),
        Opt(("--from-annotations",), "filter.from_annotations", "Inputs are annotated Parquet: re-decide with "
                                                                "the current thresholds without recomputing.",
            flag=True),
        Opt(("--keep-top",), "filter.quality.keep_top", "With --from-annotations: keep this share (e.g. 10%) of "
                                                        "the inputs' quality_score distribution."),
        Opt(("--quality-threshold",), "filter.quality.threshold", "Remove documents with quality_score below this.",
            float),
    ),
))

register_substage(SubStage("filter", FilterConfig, run_filter_shards, options=FILTER_OPTIONS))
