"""`assay curate`: a chain of document sub-stages (filter -> [classify] -> dedupe by default) into one output.

The chain is configuration: every registered sub-stage curate offers (`pipeline.stages.base.substages("curate")`:
filter, classify, dedupe) is a section of the job
(`filter:`, `classify:`, `dedupe:`; `null` or `--no-NAME` switches one off; sections that are off by default, like
`classify`, switch on by being given), and `order` says in which order they run. Each sub-stage reads what the one
before it kept (`work/<stage>/data/`), the last writes `data/`; all share `rejects/` and `quarantine/` (file names
prefixed with the stage) and keep their own manifest under `work/<stage>/`. The top-level manifest is the generic
merge: per-stage counts under `stages`, summed removals and quarantines, and the end-to-end conservation check.
"""
from __future__ import annotations

import time
from typing import Optional

from pydantic import ConfigDict, Field, create_model, model_validator

from pipeline.runner import Layout, Resources, RunEnv
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import DocJob, estimate_docs, finish, plan_inputs, prefixed_options, run_chain, substages

SUBSTAGES = substages("curate")  # every module that registers one is imported before this one (pipeline.stages)


class _CurateBase(DocJob):
    model_config = ConfigDict(extra="forbid")
    order: list[str] = Field(default_factory=lambda: list(SUBSTAGES), description="order of the sub-stages")
    stage_resources: dict[str, Resources] = Field(default_factory=dict,
                                                  description="per sub-stage resources (default: `resources`)")

    @model_validator(mode="after")
    def _check_chain(self):
        unknown = [s for s in self.order if s not in SUBSTAGES]
        if unknown:
            raise ValueError(f"order: unknown sub-stage(s) {unknown}; known: {list(SUBSTAGES)}")
        bad = [s for s in self.stage_resources if s not in SUBSTAGES]
        if bad:
            raise ValueError(f"stage_resources: unknown sub-stage(s) {bad}; known: {list(SUBSTAGES)}")
        if not self.enabled():
            raise ValueError("every sub-stage is off: enable at least one of " + ", ".join(SUBSTAGES))
        return self

    def enabled(self) -> list[str]:
        return [s for s in self.order if getattr(self, s) is not None]


def _section(name: str):
    sub = SUBSTAGES[name]
    default = Field(default_factory=sub.config) if sub.default_on else Field(None)
    return (Optional[sub.config], default)


CurateJob = create_model("CurateJob", __base__=_CurateBase, __doc__="`assay curate` / `python -m jobs.curate`.",
                         **{name: _section(name) for name in SUBSTAGES})


def run_curate(job, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    chain = job.enabled()
    first = getattr(job, chain[0])
    files = plan_inputs(job.inputs, getattr(first, "reader", None))
    prepare_output(job.output, "curate", semantic_config(job, ("output", "resources", "runtime",
                                                               "stage_resources")), files, ctx.overwrite)
    root = Layout.standalone(job.output, "curate")
    steps = [(SUBSTAGES[name], getattr(job, name), job.stage_resources.get(name, job.resources)) for name in chain]
    env = RunEnv(runtime=job.runtime, progress=ctx.progress, address=ctx.address)
    result = run_chain("curate", steps, files, root, env, estimate_docs(files), t0)
    return finish(root, result, job.model_dump(mode="json"), t0)


def _switches() -> tuple[Opt, ...]:
    out = []
    for name, sub in SUBSTAGES.items():
        if sub.default_on:
            out.append(Opt((f"--no-{name}",), name, f"Skip the {name} sub-stage.", flag=True, value=None))
    return tuple(out)


register(StageSpec(
    name="curate", job=CurateJob, run=run_curate,
    help="Curate a corpus: a chain of sub-stages (default: filter -> dedupe; add a classify: section for the "
         "quality classifier) into one output with one conservation check.",
    options=tuple(o for name, sub in SUBSTAGES.items() for o in prefixed_options(sub.options, name)) + _switches(),
))
