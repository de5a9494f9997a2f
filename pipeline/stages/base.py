"""What document stages share: the job fields every stage has, input planning, the sub-stage result, and the end
of a run (manifest with the conservation check, dataset card, summary table)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import UserError
from pipeline.extract import ExtractionConfig
from pipeline.io import expand, unify_parquet_dir
from pipeline.manifest import StageCounts, check_conservation, write_manifest
from pipeline.progress import log
from pipeline.readers import check_input
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Resources, RunEnv, Runtime
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
    """A document stage that can run inside a chain (`assay curate`): its config model, whether it is on by
    default, and its run function over planned input files."""
    name: str
    config: type[BaseModel]
    run: Callable[..., "StageResult"]  # (files, layout, cfg, resources, env) -> StageResult
    default_on: bool = True
    memory_bound: bool = False


SUBSTAGES: dict[str, SubStage] = {}


def register_substage(sub: SubStage) -> SubStage:
    SUBSTAGES[sub.name] = sub
    return sub


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
    """One result for a chain of sub-stages: input of the first, kept of the last, removals and quarantines
    summed; each sub-stage's input must equal the previous one's kept (checked)."""
    for prev, cur in zip(parts, parts[1:]):
        if cur.counts.input != prev.counts.kept:
            raise RuntimeError(f"{cur.stage} read {cur.counts.input} documents but {prev.stage} kept "
                               f"{prev.counts.kept}")
    total = StageCounts(input=parts[0].counts.input, kept=parts[-1].counts.kept)
    for p in parts:
        total = StageCounts(total.input, total.kept, StageCounts(0, 0, total.removed).add(
            StageCounts(0, 0, p.counts.removed)).removed, total.quarantined + p.counts.quarantined)
    check_conservation(total, stage)
    steps = {f"{p.stage}.{k}": v for p in parts for k, v in p.steps.items()}
    extra = {"chain": [p.stage for p in parts], "stages": {p.stage: p.counts.to_dict() for p in parts}}
    for p in parts:
        for k, v in p.extra.items():
            extra.setdefault(k, v)
    return StageResult(stage, total, steps, extra)


def run_chain(stage: str, steps: list[tuple[str, Callable, Any, Resources, bool]], files: list[str], root: Layout,
              env: RunEnv, estimate: int, t0: float) -> StageResult:
    """Run sub-stages in order into one output: each reads what the one before it kept (`work/<name>/data/`), the
    last writes `data/`; all share `rejects/` and `quarantine/`; each keeps its manifest under `work/<name>/`.
    `steps`: (name, run(files, layout, cfg, resources, env), cfg, resources, memory_bound); each sub-stage runs on
    the executor `env.choose` gives it."""
    parts, current = [], files
    for i, (name, run, cfg, resources, memory_bound) in enumerate(steps):
        layout = root.in_chain(name, last=i == len(steps) - 1)
        result = run(current, layout, cfg, resources, env.choose(estimate, memory_bound))
        finish(layout, result, cfg.model_dump(mode="json"), t0, card=False, summary=False)
        parts.append(result)
        current = sorted(str(p) for p in layout.data.glob("*.parquet"))
        if i < len(steps) - 1 and not current and result.counts.kept:
            raise UserError(f"{name} kept {result.counts.kept} documents but wrote no shards to {layout.data}")
    return merge_results(stage, parts)


def iter_docs(inputs: list[str], reader: ReaderOptions, extraction: ExtractionConfig | None = None,
              fields: tuple[str, ...] = ()):
    """(id, text, extra fields) of every readable document of `inputs` (already planned files or any inputs), HTML
    extracted under the hard limit; unreadable records are skipped (for stages that need texts, not accounting)."""
    from pipeline.extract import Extraction, ExtractionError
    from pipeline.readers import read_path

    extract = Extraction(extraction or ExtractionConfig())
    opts = reader.model_copy(update={"keep_columns": False, "fields": list(fields)})
    try:
        for path in plan_inputs(inputs, reader):
            for item in read_path(path, opts):
                if not hasattr(item, "text"):
                    continue
                text = item.text
                if item.html is not None:
                    try:
                        text = extract(item.html, item.charset)
                    except ExtractionError:
                        continue
                if text.strip():
                    yield item.id, text, {f: item.extra.get(f) for f in fields}
    finally:
        extract.close()


def require_parquet(files: list[str], why: str) -> None:
    bad = [f for f in files if not str(f).endswith(".parquet")]
    if bad:
        raise UserError(f"{bad[0]}: {why} needs Parquet inputs (a stage's output); got {len(bad)} other file(s)")
