"""`assay decontaminate INPUT... --against EVAL... -o DIR`: remove documents that contain evaluation data.

Any dataset (curated web text, synthetic generations): candidates by word n-gram overlap with the evaluation items,
confirmed by aligning the item with the matched region of the document (`filters/decontam.py`): a document is
contaminated when the matched words are a substantial passage (30 words), most of the item (half), or a large share
of the document (30%), whatever the lengths of item and document. Measured on the PAN13 text-alignment corpus
against the plain "any shared 10-gram" rule (benchmarks/decontam.py, RESULTS.md). Removed documents land in
`rejects/` with reason `contaminated`, the evaluation item they match (`decontam_item`) and the overlap
(`decontam_matched` words, `decontam_score` = share of the item, `decontam_doc_share` = share of the document).
Evaluation files are JSONL or Parquet with a text field (`--eval-field`, e.g. `question`), `.txt` files, or any
reader input. Also the last sub-stage of `assay generate`.
"""
from __future__ import annotations

import functools
import time

from pydantic import ConfigDict, Field

from filters.decontam import DecontamConfig, Decontaminator, EvalIndex
from pipeline.errors import UserError
from pipeline.extract import ExtractionConfig
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Resources, RunEnv, run_shards, shard_extras, sum_counts, sum_steps
from pipeline.shard import DocShardWorker
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import (DocJob, StageResult, SubStage, finish, iter_docs, plan_inputs, register_substage,
                                   run_env)


class DecontamSection(DecontamConfig):
    """What to check against, and how (the n-gram and region-similarity settings of `DecontamConfig`)."""
    model_config = ConfigDict(extra="forbid")
    against: list[str] = Field(..., min_length=1, description="evaluation data: JSONL/Parquet/.txt files, folders")
    eval_field: str = Field("text", description="text field of the evaluation records")
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)


class DecontaminateJob(DocJob):
    """`assay decontaminate` / `python -m jobs.decontaminate`."""
    model_config = ConfigDict(extra="forbid")
    decontaminate: DecontamSection


def eval_index(cfg: DecontamSection) -> EvalIndex:
    items = [(did, text) for did, text, _ in iter_docs(cfg.against, ReaderOptions(text_field=cfg.eval_field))]
    if not items:
        raise UserError(f"no evaluation items in {', '.join(cfg.against)} (field {cfg.eval_field!r})")
    return EvalIndex.build(items, DecontamConfig(**cfg.model_dump(include=set(DecontamConfig.model_fields))))


def _steps(cfg: DecontamSection) -> list:
    return [Decontaminator(eval_index(cfg))]


def decontam_worker(layout: Layout, cfg: DecontamSection) -> DocShardWorker:
    return DocShardWorker(layout, cfg.reader, functools.partial(_steps, cfg), "filter", cfg.extraction)


def decontaminate_shards(files: list[str], layout: Layout, cfg: DecontamSection, resources: Resources,
                         env: RunEnv) -> StageResult:
    stats = run_shards(files, layout, functools.partial(decontam_worker, layout, cfg), env, resources,
                       "decontaminate")
    return StageResult("decontaminate", sum_counts(stats), sum_steps(stats), shard_extras(stats, against=cfg.against))


def run_decontaminate(job: DecontaminateJob, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    files = plan_inputs(job.inputs, job.decontaminate.reader)
    against = plan_inputs(job.decontaminate.against, ReaderOptions(text_field=job.decontaminate.eval_field))
    prepare_output(job.output, "decontaminate", semantic_config(job), files + against, ctx.overwrite)
    layout = Layout.standalone(job.output, "decontaminate")
    result = decontaminate_shards(files, layout, job.decontaminate, job.resources, run_env(job, ctx))
    return finish(layout, result, job.model_dump(mode="json"), t0)


register(StageSpec(
    name="decontaminate", job=DecontaminateJob, run=run_decontaminate,
    help="Remove documents containing evaluation data: n-gram candidates, confirmed when the matched passage is "
         "30+ words, half the item or 30% of the document; removed documents name the evaluation item they match.",
    options=(
        Opt(("--against",), "decontaminate.against", "Evaluation data (JSONL/Parquet/.txt); repeatable.",
            multiple=True),
        Opt(("--eval-field",), "decontaminate.eval_field", "Text field of the evaluation records (default text)."),
        Opt(("--ngram",), "decontaminate.ngram", "Word n-gram length of the candidate search (default 8).", int),
        Opt(("--min-words",), "decontaminate.min_matched_words", "Contaminated when this many words of an item "
                                                                 "are matched (default 30).", int),
        Opt(("--threshold",), "decontaminate.threshold", "Also when this share of the item's words is matched "
                                                         "(default 0.5).", float),
        Opt(("--doc-share",), "decontaminate.doc_share", "Also when the matched words are this share of the "
                                                         "document (default 0.3).", float),
        Opt(("--text-field",), "decontaminate.reader.text_field", "Text field of the inputs (default text)."),
    ),
))

register_substage(SubStage("decontaminate", DecontamSection, decontaminate_shards, default_on=False,
                           chains=("generate",)))
