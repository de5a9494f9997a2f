"""`assay generate SEEDS... -o DIR`: textbook-style sections and verified exercises from a teacher, seeded by curated
documents, then deduped and decontaminated.

A chain of sub-stages into one output (`run_chain`, as `assay curate`):
1. `generate`, on the shared runner (one worker per process; `resources.gpus` for a vLLM engine): each seed
   document becomes requests (`generators.tasks`: a style crossed with audiences, prompts from versioned files);
   completions come from the cache (`generators.cache`, keyed by prompt, model, sampling parameters and task
   version) or the teacher (`generators.backends`, chosen by `teacher.kind`); each is parsed and verified (math by
   evaluation, code against its tests in the sandbox); malformed JSON is retried once with a new seed, then
   quarantined. Kept rows -> `data/`, rejected items (`too_short`, `wrong_answer`, `code_failed`, ...) ->
   `rejects/`, failed requests -> `quarantine/`;
2. `dedupe`: exact and near duplicates among the generations (the dedupe stage);
3. `decontaminate` (with `decontaminate.against`): generations containing evaluation data.
Accounting unit: a generated item (a section, or one exercise of a set), plus one per failed request and one per
unreadable seed record: `input = kept + removed by reason + quarantined`. The manifest adds requests, prompt and
completion tokens, tokens/s, retries, cache hits and failures by kind. A restarted or repeated job never re-sends a
completed request (the cache) and produces the same dataset.

The `vllm-ray` teacher is dataset-level (`ray.data.llm`): its shards run in one worker in the driver, all requests
of a round in one Ray Data pipeline (two rounds at most: the retries).
"""
from __future__ import annotations

import functools
import json
import time
from collections import Counter
from typing import Any, Optional

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from filters.dedupe.config import DedupeConfig
from generators.backends import ProceduralConfig, TeacherConfig, build_teacher, teacher_label
from generators.backends.base import Request, Response
from generators.tasks import REJECT_FIELDS, ROW_FIELDS, SynthesisConfig, SynthesisPlan
from pipeline.errors import UserError
from pipeline.extract import Extraction, ExtractionConfig, ExtractionError
from pipeline.io import write_parquet_atomic
from pipeline.manifest import StageCounts
from pipeline.progress import log
from pipeline.readers import read_path
from pipeline.readers.options import ReaderOptions
from pipeline.runner import (Layout, Resources, RunEnv, run_shards, shard_stats, sum_counts, sum_steps,
                             write_shard_stats)
from pipeline.schema import Bad, quarantine_table
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import DocJob, StageResult, finish, plan_inputs, run_chain
from pipeline.stages.decontaminate import DecontamSection, decontaminate_shards
from pipeline.stages.dedupe import dedupe_sub

USAGE_KEYS = ("requests", "cache_hits", "sent", "prompt_tokens", "completion_tokens", "retries", "generate_s")


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


# ------------------------------------------------------------------------------------------------ completion
class Completer:
    """Cache + teacher + the task protocol: requests in, final outcomes out (a retryable outcome is retried once
    per the task's `max_attempts`, with a new seed and cache key)."""

    def __init__(self, teacher_cfg, plan: SynthesisPlan, cache_dir: str, cache_name: str, batch: int = 256):
        from generators.cache import CacheDir

        self.teacher_cfg, self.plan, self.batch = teacher_cfg, plan, batch
        self.cache = CacheDir(cache_dir, cache_name)
        self._teacher = None
        self.usage: Counter = Counter()

    @property
    def model_name(self) -> str:
        if isinstance(self.teacher_cfg, ProceduralConfig):
            return f"procedural-v1/seed={self.teacher_cfg.seed}"
        return getattr(self.teacher_cfg, "served_name", None) or self.teacher_cfg.model

    @property
    def teacher(self):
        if self._teacher is None:
            self._teacher = build_teacher(self.teacher_cfg)
            start = getattr(self._teacher, "start", None)
            if start is not None:  # an engine that cannot start is a configuration problem: one line, now
                try:
                    start()
                except Exception as e:
                    import re

                    errors = re.findall(r"(\w+Error: [^\n]*?)(?= File \"|$)", str(e)) or [str(e)]
                    raise UserError(f"teacher {teacher_label(self.teacher_cfg)} did not start: "
                                    f"{errors[-1][:400]}") from None
        return self._teacher

    def complete(self, requests: list[Request]) -> dict[str, Response]:
        """Responses by key: from the cache, else from the teacher (stored when they succeed)."""
        found = self.cache.get_many([r.key for r in requests]) if requests else {}
        misses = [r for r in requests if r.key not in found]
        self.usage["requests"] += len(requests)
        self.usage["cache_hits"] += len(requests) - len(misses)
        t0 = time.perf_counter()
        for i in range(0, len(misses), self.batch):
            part = misses[i:i + self.batch]
            got = self.teacher.generate(part)
            self.cache.put_many([g for g in got if g.ok])
            for g in got:
                found[g.key] = g
                self.usage["prompt_tokens"] += g.prompt_tokens
                self.usage["completion_tokens"] += g.completion_tokens
                self.usage["retries"] += g.retries
                if not g.ok:
                    self.usage[f"failed:{(g.error or 'error').split(':')[0][:40]}"] += 1
        self.usage["sent"] += len(misses)
        self.usage["generate_s"] += time.perf_counter() - t0
        return found

    def outcomes(self, requests: list[Request]) -> list[tuple[Request, Any]]:
        """(the last request tried, its Outcome) for every request, in order."""
        pending = list(enumerate(requests))
        final: dict[int, tuple[Request, Any]] = {}
        while pending:
            got = self.complete([r for _, r in pending])
            retry = []
            for i, r in pending:
                out = self.plan.format_output(r, got[r.key])
                nxt = self.plan.retry_request(r) if out.retryable else None
                if nxt is not None:
                    self.usage["retried_outputs"] += 1
                    retry.append((i, nxt))
                else:
                    final[i] = (r, out)
            pending = retry
        return [final[i] for i in range(len(requests))]

    def close(self) -> None:
        self.cache.close()
        if self._teacher is not None:
            self._teacher.close()


# ------------------------------------------------------------------------------------------------ the worker
class GenerateWorker:
    """One per worker process: the teacher (a loaded model, a client) is built once and used for every shard."""

    def __init__(self, layout: Layout, cfg: GenerateConfig, cache_dir: str):
        import os

        self.layout, self.cfg = layout, cfg
        self.plan = SynthesisPlan(cfg.synthesis)
        self.completer = Completer(cfg.teacher, self.plan, cache_dir, f"worker-{os.getpid()}", cfg.batch_requests)
        self.label = teacher_label(cfg.teacher)
        self.extraction = Extraction(cfg.extraction)

    def close(self) -> None:
        self.completer.close()
        self.extraction.close()

    def seeds(self, path: str) -> tuple[list[dict], list[Bad]]:
        docs, bad = [], []
        for item in read_path(path, self.cfg.reader.model_copy(update={"keep_columns": False})):
            if isinstance(item, Bad):
                bad.append(item)
                continue
            if item.html is not None:
                try:
                    item.text = self.extraction(item.html, item.charset)
                except ExtractionError as e:
                    bad.append(Bad(item.source, -1, f"{e.reason}: {e}", item.id, e.reason))
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
            reqs = [r for d in docs for r in self.plan.format_input(d, self.completer.model_name)]
            per_shard.append((path, shard, docs, bad, reqs))
        before = Counter(self.completer.usage)
        results = self.completer.outcomes([r for *_, reqs in per_shard for r in reqs])
        usage = dict(self.completer.usage - before)
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
            rows += [{**r, "teacher": self.label} for r in out.rows]
            rejects += [{**r, "teacher": self.label} for r in out.rejects]
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
        todo = [(p, s) for p, s in _shards(files) if not layout.stats_file(s).exists()]
        worker = factory()
        try:
            worker.process_many(todo) if todo else None
        finally:
            worker.close()
        stats = [json.loads(layout.stats_file(s).read_text()) for _, s in _shards(files)]
    else:
        stats = run_shards(files, layout, factory, env, resources, "generate")
    usage: Counter = Counter()
    reasons: Counter = Counter()
    for s in stats:
        usage.update(s["extra"].get("usage", {}))
        reasons.update(s["extra"].get("quarantine_reasons", {}))
    gen_s = usage.get("generate_s", 0.0)
    extra = {"teacher": teacher_label(cfg.teacher), "seeds": sum(s["extra"].get("seeds", 0) for s in stats),
             "usage": {**{k: usage.get(k, 0) for k in USAGE_KEYS},
                       "completion_tokens_per_s": round(usage.get("completion_tokens", 0) / gen_s, 1) if gen_s else None,
                       "retried_outputs": usage.get("retried_outputs", 0),
                       "failures": {k.split(":", 1)[1]: v for k, v in usage.items() if k.startswith("failed:")}},
             "quarantined_by_reason": dict(sorted(reasons.items())), "task_versions": SynthesisPlan(cfg.synthesis)
             .versions}
    return StageResult("generate", sum_counts(stats), sum_steps(stats), extra)


def _shards(files: list[str]) -> list[tuple[str, str]]:
    from pipeline.runner import plan_shards

    return plan_shards(files)


def dry_run(job: GenerateJob, n: int = 3) -> list[Request]:
    """Sample prompts of the first seed documents, printed; no teacher is called."""
    files = plan_inputs(job.inputs, job.generate.reader)
    worker = GenerateWorker(Layout.standalone(job.output, "generate"), job.generate, "/dev/null")
    plan, shown = worker.plan, []
    try:
        for f in files:
            docs, _ = worker.seeds(f)
            for d in docs:
                shown += plan.format_input(d, worker.completer.model_name)
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
    steps: list[tuple] = [("generate", generation_shards, job.generate, job.resources, False)]
    if job.dedupe is not None:
        steps.append(("dedupe", dedupe_sub, job.dedupe, Resources(), True))
    if job.decontaminate is not None:
        steps.append(("decontaminate", decontaminate_shards, job.decontaminate, Resources(), False))
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


def annotate_texts(docs: list[tuple[str, str]], teacher: dict, cache_dir: str, seed: int = 0) -> list[float | None]:
    """FineWeb-Edu grades (0-5) of (id, text) documents from a teacher, through the same cache and protocol as
    generation (versioned `edu_score` rubric, structured output); None where the teacher gave no valid grade."""
    from pydantic import TypeAdapter

    from generators.tasks import EduScoreConfig

    cfg = TypeAdapter(TeacherConfig).validate_python(teacher)
    plan = SynthesisPlan(SynthesisConfig(tasks=[EduScoreConfig()], seed=seed))
    comp = Completer(cfg, plan, cache_dir, "annotate")
    try:
        reqs = [plan.format_input({"id": did, "text": text}, comp.model_name) for did, text in docs]
        flat = [r for rs in reqs for r in rs]
        outs = {r.meta["seed_id"]: o for r, o in comp.outcomes(flat)}
    finally:
        comp.close()
    grades = []
    for did, _ in docs:
        o = outs.get(str(did))
        grades.append(float(o.rows[0]["score"]) if o is not None and o.rows else None)
    return grades


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
