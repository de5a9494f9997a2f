"""The dedupe driver: plan, then the steps in order, each writing its result atomically under `work/dedupe/` and
reused when present (so a killed run that is rerun produces the same output), each returning its timing."""
from __future__ import annotations

import json
import time

from pydantic import ConfigDict, Field

from filters.dedupe.config import DedupeConfig
from pipeline.manifest import StageCounts
from pipeline.runner import Layout, Resources, RunEnv, sum_counts
from pipeline.stage import RunContext, prepare_output, semantic_config
from pipeline.stages.base import DocJob, IngestConfig, StageResult, estimate_docs, finish, plan_inputs, run_env
from pipeline.stages.dedupe import apply, components, edges, keepers, plan, signatures

STAGE = "dedupe"
STEPS = (("signatures", signatures.run), ("buckets", edges.run), ("components", components.run),
         ("keepers", keepers.run), ("filter", apply.run))


class DedupeJob(DocJob):
    """`assay dedupe` / `python -m jobs.dedupe`."""
    model_config = ConfigDict(extra="forbid")
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)


def dedupe_stage(files: list[str], layout: Layout, cfg: DedupeConfig, ingest: IngestConfig, resources: Resources,
                 env: RunEnv) -> StageResult:
    """Dedupe as a (sub-)stage over planned input files."""
    t_all = time.perf_counter()
    direct, ing = plan.ingest(files, layout, ingest, resources, env)
    layout.work.mkdir(parents=True, exist_ok=True)
    r = plan.DedupeRun(layout, cfg, resources, env, plan.plan_shards(direct), plan.plan_index(cfg))
    if r.ray:
        plan.shuffle_strategy(r.total)
    try:
        steps = {name: step(r) for name, step in STEPS}
    finally:
        r.close()

    stats = [json.loads(layout.stats_file(p["name"]).read_text()) for p in r.shards]
    counts = sum_counts(stats)
    hist: dict[int, int] = {}
    for s in stats:
        for k, v in s["extra"]["cluster_sizes"].items():
            hist[int(k)] = hist.get(int(k), 0) + v
    if ing is not None:  # ingest -> dedupe; the inputs read directly pass the ingest pass as kept
        direct_rows = counts.input - ing.counts.kept
        counts = StageCounts.chain([("ingest", ing.counts.add(StageCounts(direct_rows, direct_rows))),
                                    (STAGE, counts)], layout.stage)
        steps = {**{f"ingest.{k}": v for k, v in ing.steps.items()}, **steps}
    steps["dedupe_total"] = {"wall_s": time.perf_counter() - t_all, "docs": counts.input}
    bands, rows = cfg.band_rows()
    extra = {"cluster_size_histogram": {str(k): hist[k] for k in sorted(hist)}, "bands": bands, "rows": rows,
             "edges": r.edges, "components_algorithm": steps["components"]["algorithm"], "executor": env.executor,
             "shards": len(r.shards)}
    r.say(f"done: input={counts.input} kept={counts.kept} removed={counts.removed}")
    return StageResult(STAGE, counts, steps, extra)


def run_dedupe(job: DedupeJob, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    files = plan_inputs(job.inputs, job.ingest.reader)
    prepare_output(job.output, STAGE, semantic_config(job), files, ctx.overwrite)
    layout = Layout.standalone(job.output, STAGE)
    env = run_env(job, ctx, estimate_docs(files), memory_bound=True)
    result = dedupe_stage(files, layout, job.dedupe, job.ingest, job.resources, env)
    return finish(layout, result, job.model_dump(mode="json"), t0)


def dedupe_sub(files, layout, cfg: DedupeConfig, resources, env: RunEnv) -> StageResult:
    """Dedupe as a sub-stage of a chain (curate, generate): inputs are the previous sub-stage's Parquet."""
    return dedupe_stage(files, layout, cfg, IngestConfig(), resources, env)
