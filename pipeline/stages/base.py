"""What document stages share: the job fields every stage has, input planning, the sub-stage result, and the end
of a run (manifest with the conservation check, dataset card, summary table)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import UserError
from pipeline.extract import ExtractionConfig
from pipeline.io import expand, unify_parquet_dir
from pipeline.manifest import StageCounts, write_manifest
from pipeline.progress import log
from pipeline.readers import check_input
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Resources, RunEnv, Runtime
from pipeline.stage import Opt
from pipeline.summary import print_summary, write_dataset_card

INPUTS_FIELD = Field(..., min_length=1, description="files, directories, globs or fsspec URLs")
OUTPUT_FIELD = Field(..., description="output directory")


class DocJob(BaseModel):
    """Fields of every document stage's job: where from, where to, with what resources, how to run."""
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = INPUTS_FIELD
    output: str = OUTPUT_FIELD
    resources: Resources = Field(default_factory=Resources)
    runtime: Runtime = Field(default_factory=Runtime)


class IngestConfig(BaseModel):
    """How a stage that needs document tables reads inputs that are not already Parquet with `id`/`text`
    (archives are extracted under the hard time limit, JSONL is parsed): the same reader stack as `filter`."""
    model_config = ConfigDict(extra="forbid")

    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)


@dataclass(frozen=True)
class SubStage:
    """A document stage that can run inside a chain: its config model (the chain job's section of that name),
    whether the section is on by default, its run function over planned input files, and the chains that offer it
    (`curate`, `generate`). `options`: the stage's CLI options a chain exposes for its section (paths relative to
    the section; the chain prefixes them)."""
    name: str
    config: type[BaseModel]
    run: Callable[..., "StageResult"]  # (files, layout, cfg, resources, env) -> StageResult
    default_on: bool = True
    memory_bound: bool = False
    chains: tuple[str, ...] = ("curate",)
    options: tuple[Opt, ...] = ()


SUBSTAGES: dict[str, SubStage] = {}


def register_substage(sub: SubStage) -> SubStage:
    SUBSTAGES[sub.name] = sub
    return sub


def substages(chain: str) -> dict[str, SubStage]:
    """The registered sub-stages `chain` offers, in registration order."""
    return {name: sub for name, sub in SUBSTAGES.items() if chain in sub.chains}


def prefixed_options(opts: tuple[Opt, ...], prefix: str) -> tuple[Opt, ...]:
    """Options of a config section, for a job that holds the section under `prefix`."""
    return tuple(replace(o, path=f"{prefix}.{o.path}") for o in opts)


@dataclass
class StageResult:
    """What a (sub-)stage hands back: its counts, per-step times and stage-specific extras."""
    stage: str
    counts: StageCounts
    steps: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def plan_inputs(inputs: list[str], reader: ReaderOptions | None = None, suffixes: tuple[str, ...] | None = None,
                check_files: int = 16) -> list[str]:
    """Expand inputs into files (the rules of `pipeline.io`), say what was skipped, and check the first
    `check_files` structured inputs for the text field (an error naming the fields that exist)."""
    exp = expand(inputs, suffixes)
    if exp.skipped:
        shown = ", ".join(Path(p).name for p in exp.skipped[:3]) + (" ..." if len(exp.skipped) > 3 else "")
        log(f"skipped {len(exp.skipped)} file(s) that are not documents: {shown}", stage="inputs")
    for path in exp.files[:check_files]:
        check_input(path, reader or ReaderOptions())
    return exp.files


def run_env(job: DocJob, ctx, docs_estimate: int = 0, memory_bound: bool = False) -> RunEnv:
    """The run's environment, built once from the job's runtime settings and the command's context."""
    return RunEnv.start(job.runtime, ctx.address, ctx.progress, docs_estimate, memory_bound)


def finish(layout: Layout, result: StageResult, config: dict, t0: float, *, card: bool = True,
           summary: bool = True) -> dict:
    """Write the manifest (conservation checked), and for a top-level stage the dataset card and summary."""
    for folder in (layout.data, layout.rejects):
        unify_parquet_dir(folder)
    steps = dict(result.steps)
    steps["stage_total"] = {"wall_s": time.perf_counter() - t0, "docs": result.counts.input}
    manifest = write_manifest(layout.manifest, result.stage, result.counts, config, steps, result.extra)
    if card:
        write_dataset_card(layout.root, manifest)
    if summary:
        print_summary(manifest)
    return manifest


def merge_results(stage: str, parts: list[StageResult]) -> StageResult:
    """One result for a chain of sub-stages: the chain's counts (`StageCounts.chain`: each sub-stage's input must
    equal the previous one's kept, conservation end to end), steps prefixed by sub-stage, per-stage counts."""
    total = StageCounts.chain([(p.stage, p.counts) for p in parts], stage)
    steps = {f"{p.stage}.{k}": v for p in parts for k, v in p.steps.items()}
    extra = {"chain": [p.stage for p in parts], "stages": {p.stage: p.counts.to_dict() for p in parts}}
    for p in parts:
        for k, v in p.extra.items():
            extra.setdefault(k, v)
    return StageResult(stage, total, steps, extra)


def run_chain(stage: str, steps: list[tuple[SubStage, Any, Resources]], files: list[str], root: Layout,
              env: RunEnv, estimate: int, t0: float) -> StageResult:
    """Run sub-stages in order into one output: each reads what the one before it kept (`root.sub(name)`:
    `work/<name>/data/`), the last writes `data/`; all share `rejects/` and `quarantine/`; each keeps its manifest
    under `work/<name>/`. `steps`: (sub-stage, its config, its resources); each runs on the executor `env.choose`
    gives it."""
    parts, current = [], files
    for i, (sub, cfg, resources) in enumerate(steps):
        layout = root.sub(sub.name, last=i == len(steps) - 1)
        result = sub.run(current, layout, cfg, resources, env.choose(estimate, sub.memory_bound))
        finish(layout, result, cfg.model_dump(mode="json"), t0, card=False, summary=False)
        parts.append(result)
        current = sorted(str(p) for p in layout.data.glob("*.parquet"))
        if i < len(steps) - 1 and not current and result.counts.kept:
            raise UserError(f"{sub.name} kept {result.counts.kept} documents but wrote no shards to {layout.data}")
    return merge_results(stage, parts)


def estimate_docs(files: list[str]) -> int:
    """Rows of Parquet inputs, ~2 KB per document for the rest (used to choose the executor)."""
    import os

    import pyarrow.parquet as pq

    n = 0
    for f in files:
        if str(f).endswith(".parquet"):
            n += pq.ParquetFile(f).metadata.num_rows
        elif os.path.isfile(f):
            n += os.path.getsize(f) // 2000
    return n


def iter_docs(inputs: list[str], reader: ReaderOptions, extraction: ExtractionConfig | None = None,
              fields: tuple[str, ...] = ()):
    """(id, text, extra fields) of every readable document of `inputs` (already planned files or any inputs), HTML
    extracted under the hard limit; unreadable records are skipped (for stages that need texts, not accounting)."""
    from pipeline.documents import read_documents
    from pipeline.extract import Extraction
    from pipeline.schema import Bad

    extract = Extraction(extraction or ExtractionConfig())
    opts = reader.model_copy(update={"keep_columns": False, "fields": list(fields)})
    try:
        for path in plan_inputs(inputs, reader):
            for item in read_documents(path, opts, extract):
                if not isinstance(item, Bad) and item.text.strip():
                    yield item.id, item.text, {f: item.extra.get(f) for f in fields}
    finally:
        extract.close()


def require_parquet(files: list[str], why: str) -> None:
    bad = [f for f in files if not str(f).endswith(".parquet")]
    if bad:
        raise UserError(f"{bad[0]}: {why} needs Parquet inputs (a stage's output); got {len(bad)} other file(s)")
