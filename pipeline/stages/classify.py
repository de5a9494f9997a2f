"""The model-based quality filter: score documents with a fastText classifier (`filters/quality.py`), keep a top
share of the global score distribution or everything above a threshold.

`assay classifier score INPUT... -o DIR --model MODEL_DIR` (and the `classify:` sub-stage of `assay curate`, between
filter and dedupe, so dedupe's keeper rule uses `quality_score`):
- pass 1, on the shared shard worker with the model loaded once per worker: every document gets a `quality_score`
  column; each shard records a fixed-bin histogram of its scores;
- the histograms are merged (no second read): `quality_histogram.json` and a plot (PNG + SVG) in the output;
- with `keep_top` (a share of the corpus) the merged histogram gives the threshold; with `threshold` it is given;
  pass 2 re-decides from the stored column (no re-scoring). Without either, nothing is removed.
Arms at other percentiles come from the scored output without re-scoring: `assay filter DIR --from-annotations
--keep-top 10%` (every step re-decides from its columns, the quality step from `quality_score`).

Training (`assay classifier train`) and evaluation (`assay classifier evaluate`) live in `classify_train.py`.
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from filters.fasttext_util import check_model_file
from filters.quality import FastTextQuality, QualityConfig, Share
from pipeline.errors import UserError
from pipeline.extract import ExtractionConfig
from pipeline.manifest import StageCounts
from pipeline.progress import log
from pipeline.readers.options import ReaderOptions
from pipeline.quality_scores import HistogramSummary, merged_histogram, write_histogram
from pipeline.runner import Layout, Resources, RunEnv, run_shards, shard_extras, sum_counts, sum_steps
from pipeline.shard import DocShardWorker
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import DocJob, StageResult, SubStage, finish, plan_inputs, register_substage, run_env

class ClassifyConfig(BaseModel):
    """The quality classifier as a stage: which model, and what to keep."""
    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="model dir written by `assay classifier train` (or its model.bin)")
    label: str = Field("hq", description="label of the high-quality class")
    keep_top: Share | None = Field(None, description="keep this share of the corpus (e.g. 0.1 or 10%), from the "
                                                    "global score distribution")
    threshold: float | None = Field(None, ge=0, le=1, description="keep documents with quality_score >= this")
    bins: int = Field(10_000, ge=10, le=1_000_000, description="histogram bins over [0, 1]")
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    batch_docs: int = Field(1000, gt=0, json_schema_extra={"fingerprint": False})

    @model_validator(mode="after")
    def _one_rule(self):
        if self.keep_top is not None and self.threshold is not None:
            raise ValueError("give keep_top or threshold, not both")
        return self

    def model_file(self) -> Path:
        p = Path(self.model)
        return p / "model.bin" if p.is_dir() else p

    def check_model(self) -> Path:
        """The model file, checked before any work (a missing or corrupt model is an error naming it)."""
        path = self.model_file()
        try:
            check_model_file(path)
            FastTextQuality(QualityConfig(model=str(path), label=self.label)).model  # labels, normalisation version
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"quality model: {e}") from None
        return path


class ClassifyJob(DocJob):
    """`assay classifier score` / `python -m jobs.classify`."""
    model_config = ConfigDict(extra="forbid")
    classify: ClassifyConfig


def _steps(qcfg: QualityConfig) -> list:
    return [FastTextQuality(qcfg)]


def quality_worker(layout: Layout, cfg: ClassifyConfig, qcfg: QualityConfig, mode: str) -> DocShardWorker:
    return DocShardWorker(layout, cfg.reader, functools.partial(_steps, qcfg), mode,
                          None if mode == "redecide" else cfg.extraction, cfg.batch_docs,
                          {"quality_histogram": functools.partial(HistogramSummary, cfg.bins)})


def classify_shards(files: list[str], layout: Layout, cfg: ClassifyConfig, resources: Resources,
                    env: RunEnv) -> StageResult:
    """Score, merge the histograms, and (with keep_top or threshold) re-decide from the scores."""
    model = str(cfg.check_model())
    base = QualityConfig(model=model, label=cfg.label)
    if cfg.keep_top is None and cfg.threshold is None:  # annotate: every document kept with its score
        stats = run_shards(files, layout, functools.partial(quality_worker, layout, cfg, base, "annotate"), env,
                           resources, "classify")
        hist = merged_histogram(stats, cfg.bins)
        extra = write_histogram(layout.root, hist, None, None)
        return StageResult("classify", sum_counts(stats), sum_steps(stats), shard_extras(stats, quality=extra))
    # pass 1: score into work/, pass 2: decide from the stored column
    scored = layout.sub(f"{layout.stage}-score")
    s1 = run_shards(files, scored, functools.partial(quality_worker, scored, cfg, base, "annotate"), env, resources,
                    "classify: score")
    hist = merged_histogram(s1, cfg.bins)
    threshold = cfg.threshold if cfg.threshold is not None else hist.threshold_for_top(cfg.keep_top)
    if env.progress:
        log(f"threshold {threshold:.6f} keeps {hist.share_above(threshold):.2%} of {hist.n} scored documents",
            stage=layout.stage)
    extra = write_histogram(layout.root, hist, threshold, cfg.keep_top)
    decide = QualityConfig(model=model, label=cfg.label, threshold=threshold)
    scored_files = [str(scored.data / f"{s['shard']}.parquet") for s in s1]
    s2 = run_shards(scored_files, layout, functools.partial(quality_worker, layout, cfg, decide, "redecide"), env,
                    resources, "classify: decide")
    counts = StageCounts.chain([(scored.stage, sum_counts(s1)), (layout.stage, sum_counts(s2))], layout.stage)
    steps = {**{f"score.{k}": v for k, v in sum_steps(s1).items()},
             **{f"decide.{k}": v for k, v in sum_steps(s2).items()}}
    return StageResult("classify", counts, steps, shard_extras(s1, quality=extra))


def run_classify(job: ClassifyJob, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    job.classify.check_model()
    files = plan_inputs(job.inputs, job.classify.reader)
    model_file = job.classify.model_file()
    prepare_output(job.output, "classify", semantic_config(job), files + [str(model_file)], ctx.overwrite)
    layout = Layout.standalone(job.output, "classify")
    result = classify_shards(files, layout, job.classify, job.resources, run_env(job, ctx))
    return finish(layout, result, job.model_dump(mode="json"), t0)


register_substage(SubStage("classify", ClassifyConfig, classify_shards, default_on=False))

register(StageSpec(
    name="classify", group="classifier", command="score", job=ClassifyJob, run=run_classify,
    help="Score documents with a fastText quality classifier (a quality_score column; nothing removed unless "
         "--keep-top or --threshold), with the global score histogram as JSON and a plot.",
    output_help="Output directory: data/ (with quality_score), rejects/, quality_histogram.{json,png,svg}, "
                "manifest.json.",
    options=(
        Opt(("--model",), "classify.model", "Model dir written by `assay classifier train` (required)."),
        Opt(("--keep-top",), "classify.keep_top", "Keep this share of the corpus, e.g. 10% (global distribution)."),
        Opt(("--threshold",), "classify.threshold", "Keep documents with quality_score >= this.", float),
        Opt(("--label",), "classify.label", "Label of the high-quality class (default hq)."),
        Opt(("--text-field",), "classify.reader.text_field", "Text field/column of JSONL/Parquet inputs."),
    ),
))
