"""`assay generate SEEDS... -o DIR`: textbook-style sections and verified exercises from a teacher, seeded by curated
documents, then deduped and decontaminated.

A chain of sub-stages into one output (`run_chain`, as `assay curate`):
1. `generate`, on the shared runner (one worker per process; `resources.gpus` for a vLLM engine): each seed
   document becomes requests (`generators.tasks`: a style crossed with audiences, prompts from versioned files);
   the generation protocol (`generators.complete.Completer`) serves completions from the cache (`generators.cache`,
   keyed by prompt, model, sampling parameters and task version) or the teacher (`generators.backends`, chosen by
   `teacher.kind`); each is parsed and verified (math by evaluation, code against its tests in the sandbox);
   malformed JSON is retried once with a new seed, then quarantined. Kept rows -> `data/`, rejected items
   (`too_short`, `wrong_answer`, `code_failed`, ...) -> `rejects/`, failed requests -> `quarantine/`;
2. `dedupe`: exact and near duplicates among the generations (the dedupe stage);
3. `decontaminate` (with `decontaminate.against`): generations containing evaluation data.
Accounting unit: a generated item (a section, or one exercise of a set), plus one per failed request and one per
unreadable seed record: `input = kept + removed by reason + quarantined`. The manifest adds requests, prompt and
completion tokens, tokens/s, retries and their reasons, cache hits and failures by kind (the one usage tally,
`generators.backends.Usage`, summed over shards). A restarted or repeated job never re-sends a completed request
(the cache) and produces the same dataset.

The `vllm-ray` teacher is dataset-level (`ray.data.llm`): its shards run in one worker in the driver, all requests
of a round in one Ray Data pipeline (two rounds at most: the retries).
"""
from __future__ import annotations

import functools
import json
import time
from collections import Counter
from typing import Optional

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from filters.dedupe.config import DedupeConfig
from generators.backends import ProceduralConfig, TeacherConfig, Usage, teacher_label
from generators.backends.base import Request
from generators.complete import Completer
from generators.tasks import REJECT_FIELDS, ROW_FIELDS, SynthesisConfig, SynthesisPlan
from pipeline.documents import read_documents
from pipeline.extract import Extraction, ExtractionConfig
from pipeline.io import write_parquet_atomic
from pipeline.manifest import StageCounts
from pipeline.progress import log
from pipeline.readers.options import ReaderOptions
from pipeline.runner import (Layout, Resources, RunEnv, plan_shards, run_shards, shard_extras, shard_stats,
                             sum_counts, sum_steps, write_shard_stats)
from pipeline.schema import Bad, quarantine_table
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import DocJob, StageResult, SubStage, finish, plan_inputs, run_chain, substages
from pipeline.stages.decontaminate import DecontamSection


class GenerateConfig(BaseModel):
    """The generation sub-stage: which tasks, which teacher, where the cache lives."""
    model_config = ConfigDict(extra="forbid")
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig)
    teacher: TeacherConfig = Field(default_factory=ProceduralConfig)
    max_seeds: int | None = Field(None, ge=1, description="seed documents per input file (None: all)")
    batch_requests: int = Field(256, ge=1, description="requests per call to the teacher",
                                json_schema_extra={"fingerprint": False})
    cache: str | None = Field(None, description="completion cache dir (default OUTPUT/work/generate/cache); "
                                                "share one between runs to reuse completions",
                              json_schema_extra={"fingerprint": False})
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)


class GenerateJob(DocJob):
    """`assay generate` / `python -m jobs.generate`."""
    model_config = ConfigDict(extra="forbid")
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    dedupe: Optional[DedupeConfig] = Field(default_factory=DedupeConfig,
                                           description="near-duplicates among the generations (null: off)")
    decontaminate: Optional[DecontamSection] = Field(None, description="evaluation data to remove (off by default)")
    dry_run: bool = Field(False, description="print sample prompts and stop (no teacher is called)",
                          json_schema_extra={"fingerprint": False})


# ------------------------------------------------------------------------------------------------ the worker
class GenerateWorker:
    """One per worker process: the teacher (a loaded model, a client) is built once and used for every shard."""

    def __init__(self, layout: Layout, cfg: GenerateConfig, cache_dir: str):
        import os

        self.layout, self.cfg = layout, cfg
        self.completer = Completer(cfg.teacher, SynthesisPlan(cfg.synthesis), cache_dir, f"worker-{os.getpid()}",
                                   cfg.batch_requests)
        self.extraction = Extraction(cfg.extraction)

    def close(self) -> None:
        self.completer.close()
        self.extraction.close()

    def seeds(self, path: str) -> tuple[list[dict], list[Bad]]:
        """The file's seed documents (up to `max_seeds`) and its unreadable records before the last seed."""
        docs, bad = [], []
        reader = self.cfg.reader.model_copy(update={"keep_columns": False})
        for item in read_documents(path, reader, self.extraction, batch=1):  # pages extracted only as needed
            if isinstance(item, Bad):
                bad.append(item)
                continue
            docs.append({"id": item.id, "text": item.text})
            if self.cfg.max_seeds and len(docs) >= self.cfg.max_seeds:
                break
        return docs, bad

    def process(self, path: str, shard: str) -> dict:
        return self.process_many([(path, shard)])[0]

    def process_many(self, shards: list[tuple[str, str]]) -> list[dict]:
        """All requests of these shards in one round (plus retries): what a dataset-level teacher needs."""
        t0 = time.perf_counter()
        per_shard = []
        for path, shard in shards:
            docs, bad = self.seeds(path)
            reqs = [r for d in docs for r in self.completer.requests(d)]
            per_shard.append((path, shard, docs, bad, reqs))
        results = self.completer.outcomes([r for *_, reqs in per_shard for r in reqs])
        usage = self.completer.take_usage().to_json()
        stats, k = [], 0
        for path, shard, docs, bad, reqs in per_shard:
            outs = results[k:k + len(reqs)]
            k += len(reqs)
            stats.append(self._write(path, shard, docs, bad, outs, usage if len(stats) == 0 else {},
                                     time.perf_counter() - t0))
        return stats

    def _write(self, path, shard, docs, bad, outs, usage, wall) -> dict:
        rows, rejects, errors = [], [], list(bad)
        for req, out in outs:
            if out.error:
                errors.append(Bad(path, -1, f"{out.error}: {out.detail}"[:500], req.meta.get("seed_id"), out.error))
            rows += [{**r, "teacher": self.completer.label} for r in out.rows]
            rejects += [{**r, "teacher": self.completer.label} for r in out.rejects]
        lay = self.layout
        write_parquet_atomic(_table(rows, ROW_FIELDS), lay.data / f"{shard}.parquet")
        if rejects:
            write_parquet_atomic(_table(rejects, REJECT_FIELDS), lay.reject_file(shard))
        if errors:
            write_parquet_atomic(quarantine_table(errors), lay.quarantine_file(shard))
        removed = Counter(r["reason"] for r in rejects)
        counts = StageCounts(len(rows) + len(rejects) + len(errors), len(rows), dict(sorted(removed.items())),
                             len(errors))
        extra = {"seeds": len(docs), "usage": usage, "quarantine_reasons": dict(Counter(e.reason for e in errors))}
        stats = shard_stats(shard, path, counts, {"generate": {"wall_s": wall, "docs": len(docs)}}, extra, wall)
        write_shard_stats(lay, stats)
        return stats


def _table(rows: list[dict], fields: tuple[str, ...]) -> pa.Table:
    cols = list(fields) + ["teacher"]
    types = {"verified": pa.bool_(), "score": pa.float64()}
    return pa.table({c: pa.array([r.get(c) for r in rows], types.get(c, pa.string())) for c in cols})


def generate_worker(layout: Layout, cfg: GenerateConfig, cache_dir: str) -> GenerateWorker:
    return GenerateWorker(layout, cfg, cache_dir)


def generation_shards(files: list[str], layout: Layout, cfg: GenerateConfig, resources: Resources,
                      env: RunEnv) -> StageResult:
    cache_dir = cfg.cache or str(layout.root / "work" / "generate" / "cache")
    factory = functools.partial(generate_worker, layout, cfg, cache_dir)
    if cfg.teacher.kind == "vllm-ray":  # dataset-level: one worker in the driver, one pipeline per round
        todo = [(p, s) for p, s in plan_shards(files) if not layout.stats_file(s).exists()]
        worker = factory()
        try:
            worker.process_many(todo) if todo else None
        finally:
            worker.close()
        stats = [json.loads(layout.stats_file(s).read_text()) for _, s in plan_shards(files)]
    else:
        stats = run_shards(files, layout, factory, env, resources, "generate")
    usage = sum((Usage.from_json(s["extra"].get("usage")) for s in stats), Usage())
    extra = shard_extras(stats, teacher=teacher_label(cfg.teacher), usage=usage.as_dict(),
                         seeds=sum(s["extra"].get("seeds", 0) for s in stats),
                         task_versions=SynthesisPlan(cfg.synthesis).versions)
    return StageResult("generate", sum_counts(stats), sum_steps(stats), extra)


GENERATION = SubStage("generate", GenerateConfig, generation_shards, chains=())  # the chain's first step


def dry_run(job: GenerateJob, n: int = 3) -> list[Request]:
    """Sample prompts of the first seed documents, printed; no teacher is called."""
    files = plan_inputs(job.inputs, job.generate.reader)
    worker = GenerateWorker(Layout.standalone(job.output, "generate"), job.generate, "/dev/null")
    shown = []
    try:
        for f in files:
            docs, _ = worker.seeds(f)
            for d in docs:
                shown += worker.completer.requests(d)
                if len(shown) >= n:
                    break
            if len(shown) >= n:
                break
    finally:
        worker.extraction.close()
    for r in shown[:n]:
        meta = {k: r.meta.get(k) for k in ("task", "style", "audience", "seed_id", "task_version")}
        print(json.dumps(meta) + "\n" + "\n".join(f"[{m['role']}] {m['content']}" for m in r.messages)
              + (f"\n[schema] {json.dumps(r.schema)}" if r.schema else "") + "\n" + "-" * 80)
    return shown[:n]


def run_generate(job: GenerateJob, ctx: RunContext) -> dict | list:
    if job.dry_run:
        return dry_run(job)
    t0 = time.perf_counter()
    files = plan_inputs(job.inputs, job.generate.reader)
    against = plan_inputs(job.decontaminate.against, ReaderOptions(text_field=job.decontaminate.eval_field)) \
        if job.decontaminate else []
    prepare_output(job.output, "generate", semantic_config(job), files + against, ctx.overwrite)
    root = Layout.standalone(job.output, "generate")
    steps = [(GENERATION, job.generate, job.resources)] + [(sub, getattr(job, name), Resources())
                                                            for name, sub in substages("generate").items()
                                                            if getattr(job, name) is not None]
    env = RunEnv(runtime=job.runtime, progress=ctx.progress, address=ctx.address)
    result = run_chain("generate", steps, files, root, env, 0, t0)
    manifest = finish(root, result, _public_config(job), t0)
    u = manifest["usage"]
    if ctx.progress:
        log(f"{u['requests']} requests ({u['cache_hits']} from the cache), {u['completion_tokens']} completion "
            f"tokens, {manifest['kept']} generations kept", stage="generate")
    return manifest


def _public_config(job: GenerateJob) -> dict:
    """The config for the manifest (API keys are never in it: only the name of their environment variable)."""
    return job.model_dump(mode="json")


register(StageSpec(
    name="generate", job=GenerateJob, run=run_generate, inputs_metavar="SEEDS...",
    inputs_help="Seed documents: a curate output, JSONL, Parquet or any reader input.",
    help="Synthesize textbook-style sections and verified exercises from a teacher (procedural by default; "
         "vLLM offline, vLLM in Ray Data, or any OpenAI-compatible server), seeded by documents; then dedupe and "
         "decontaminate.",
    output_help="Output directory: data/ (id, text, seed_id, task, style, audience, teacher, verified, question, "
                "answer, check, ...), rejects/, quarantine/, manifest.json.",
    options=(
        Opt(("--teacher",), "generate.teacher.kind", "procedural (default), openai, vllm or vllm-ray; set its fields "
                                                     "with --set generate.teacher.model=DIR etc."),
        Opt(("--max-seeds",), "generate.max_seeds", "Seed documents per input file.", int),
        Opt(("--against",), "decontaminate.against", "Evaluation data to decontaminate against; repeatable.",
            multiple=True),
        Opt(("--dry-run",), "dry_run", "Print sample prompts and stop (no teacher is called).", flag=True),
        Opt(("--text-field",), "generate.reader.text_field", "Text field of the seed inputs (default text)."),
    ),
))
