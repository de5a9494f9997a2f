"""The stage runner: one shard worker per process, fanned out over a local process pool or a Ray Data actor pool.

A stage hands `run_shards` a list of shards (input path -> output shard name) and a picklable factory that builds
its worker once per process (to load a model once); the worker's `process(path, shard)` handles one shard end to end
and returns its stats (the one schema below). A shard is finished when its stats file `<stats>/<shard>.json` exists
(written last, atomically), so an interrupted run started again with the same command skips finished shards and
produces exactly the output of an uninterrupted run.

Executors (`Runtime.executor`):
- `local`: this machine, no Ray: in this process for one worker, else a process pool (spawned processes; a pool
  broken by a killed worker is rebuilt and the unfinished shards re-run, up to `retries` times);
- `ray`: a Ray Data actor pool sized by the stage's `Resources` (CPUs, GPUs, memory per worker; fixed or
  autoscaling pool); Ray restarts dead actors and retries their shards;
- `auto` (default): `ray` when a cluster is named (`--address`, or inside a Ray job), else `local`. Stages whose
  memory grows with the input (dedupe) also switch to `ray` above `local_max_docs`.

Shard stats schema: {"shard", "path", "counts": {input, kept, removed{reason: n}, quarantined}, "steps":
{step: {"wall_s", "docs"}}, "extra": {...}, "wall_s"}.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.io import write_json_atomic
from pipeline.manifest import StageCounts
from pipeline.progress import StageProgress, log
from pipeline.schema import shard_name


class Resources(BaseModel):
    """What one worker of a stage needs, and how many workers to run."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(1.0, gt=0, description="CPUs per worker")
    gpus: float = Field(0.0, ge=0, description="GPUs per worker (Ray schedules the worker on a GPU node)")
    memory_gb: float | None = Field(None, gt=0, description="memory per worker reserved with Ray (None: no claim)")
    workers: int = Field(0, ge=0, description="worker-pool size (0: as many as the CPUs/GPUs allow)")
    max_workers: int | None = Field(None, ge=1, description="Ray only: autoscale the pool from `workers` up to this")


class Runtime(BaseModel):
    """How to run (not what to compute: none of this changes the output, so it is not part of a run's
    fingerprint)."""

    model_config = ConfigDict(extra="forbid")
    executor: Literal["auto", "local", "ray"] = Field("auto", description="auto: ray when a cluster is named, "
                                                                          "else local (no Ray start-up)")
    local_max_docs: int = Field(300_000, ge=0, description="auto switches memory-bound stages to ray above this")
    retries: int = Field(3, ge=0, description="local executor: re-runs of shards whose worker process died")


def choose_executor(runtime: Runtime, address: str | None, docs_estimate: int = 0, memory_bound: bool = False) -> str:
    if runtime.executor != "auto":
        return runtime.executor
    if address or os.environ.get("RAY_ADDRESS"):
        return "ray"
    if memory_bound and docs_estimate > runtime.local_max_docs:
        return "ray"
    return "local"


@dataclass(frozen=True)
class Layout:
    """Where a stage writes. Sub-stages of a chain share `rejects/` and `quarantine/` (file names prefixed with
    the stage) and keep their intermediates in `work/<stage>/`."""
    root: Path
    stage: str
    data: Path
    rejects: Path
    quarantine: Path
    stats: Path
    work: Path
    manifest: Path
    prefix: str = ""

    @classmethod
    def standalone(cls, root: str | Path, stage: str) -> "Layout":
        root = Path(root)
        return cls(root, stage, root / "data", root / "rejects", root / "quarantine", root / "stats" / stage,
                   root / "work" / stage, root / "manifest.json")

    def in_chain(self, stage: str, last: bool) -> "Layout":
        """The layout of sub-stage `stage` of a chain writing into this layout's root."""
        work = self.root / "work" / stage
        return replace(self, stage=stage, data=self.data if last else work / "data", stats=self.root / "stats" / stage,
                       work=work, manifest=work / "manifest.json", prefix=f"{stage}-")

    def reject_file(self, shard: str) -> Path:
        return self.rejects / f"{self.prefix}{shard}.parquet"

    def quarantine_file(self, shard: str) -> Path:
        return self.quarantine / f"{self.prefix}{shard}.parquet"

    def stats_file(self, shard: str) -> Path:
        return self.stats / f"{shard}.json"


def shard_stats(shard: str, path: str, counts: StageCounts | dict, steps: dict | None = None,
                extra: dict | None = None, wall_s: float = 0.0) -> dict:
    counts = counts.to_dict() if isinstance(counts, StageCounts) else counts
    return {"shard": shard, "path": path, "counts": counts, "steps": steps or {}, "extra": extra or {},
            "wall_s": round(wall_s, 3)}


def write_shard_stats(layout: Layout, stats: dict) -> None:
    write_json_atomic(stats, layout.stats_file(stats["shard"]))  # last: marks the shard done


# ------------------------------------------------------------------------------------------------ executors
_WORKER = None  # the worker of this pool process


def _init_worker(factory: Callable[[], Any]) -> None:
    global _WORKER
    _WORKER = factory()


def _process(path: str, shard: str) -> dict:
    return _WORKER.process(path, shard)


class _ShardCall:
    """Ray Data adapter: a batch of shard descriptors -> worker.process per shard -> stats rows."""

    def __init__(self, factory: Callable[[], Any]):
        self.worker = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [json.dumps(self.worker.process(str(p), str(s))) for p, s in zip(batch["path"], batch["shard"])]
        return {"stats": np.array(out, dtype=object)}


def plan_shards(paths: list[str]) -> list[tuple[str, str]]:
    shards = [(p, shard_name(p)) for p in paths]
    if len({s for _, s in shards}) != len(shards):
        raise ValueError("two inputs map to the same shard name")
    return shards


def run_shards(paths: list[str], layout: Layout, factory: Callable[[], Any], resources: Resources | None = None,
               executor: str = "local", progress: bool = True, label: str | None = None,
               retries: int = 3) -> list[dict]:
    """Process every input path as one shard; return the stats of all shards (finished earlier or now), in input
    order."""
    resources = resources or Resources()
    shards = plan_shards(paths)
    todo = [(p, s) for p, s in shards if not layout.stats_file(s).exists()]
    results: dict[str, dict] = {}
    with StageProgress(label or layout.stage, total=len(shards), done=len(shards) - len(todo),
                       enabled=progress) as bar:
        def done(stats: dict) -> None:
            results[stats["shard"]] = stats
            bar.advance(stats["counts"]["input"], stats["counts"]["kept"])

        if todo:
            run = _run_ray if executor == "ray" else _run_local
            run(todo, factory, resources, done, retries)
    out = []
    for _, s in shards:
        out.append(results.get(s) or json.loads(layout.stats_file(s).read_text()))
    return out


def _local_workers(resources: Resources, n_todo: int) -> int:
    n = resources.workers or max(1, int((os.cpu_count() or 1) // resources.cpus))
    return max(1, min(n, n_todo))


def _run_local(todo, factory, resources: Resources, done, retries: int) -> None:
    n = _local_workers(resources, len(todo))
    if n == 1:
        worker = factory()
        try:
            for p, s in todo:
                done(worker.process(p, s))
        finally:
            getattr(worker, "close", lambda: None)()
        return
    pending = list(todo)
    for attempt in range(retries + 1):
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(n, len(pending)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(factory,)) as pool:
            futures = {pool.submit(_process, p, s): (p, s) for p, s in pending}
            failed = []
            for fut in as_completed(futures):
                try:
                    done(fut.result())
                except BrokenProcessPool:
                    failed.append(futures[fut])
        if not failed:
            return
        pending = failed
        log(f"a worker process died; re-running {len(failed)} unfinished shard(s) "
            f"(attempt {attempt + 2} of {retries + 1})", stage="runner")
    raise RuntimeError(f"worker processes kept dying; {len(pending)} shard(s) unfinished: "
                       f"{', '.join(s for _, s in pending[:5])}")


def _run_ray(todo, factory, resources: Resources, done, retries: int) -> None:
    import ray
    import ray.data

    gpus_total = ray.cluster_resources().get("GPU", 0)
    if resources.gpus > 0 and gpus_total < resources.gpus:
        from pipeline.errors import UserError

        raise UserError(f"the stage asks for {resources.gpus:g} GPU(s) per worker but the Ray cluster has "
                        f"{gpus_total:g}; set resources.gpus: 0 or run on a GPU cluster")
    size = resources.workers
    if size <= 0:
        cpus = ray.cluster_resources().get("CPU", 1)
        size = max(1, int(cpus // resources.cpus))
        if resources.gpus > 0:
            size = max(1, min(size, int(gpus_total // resources.gpus)))
    size = min(size, len(todo))
    compute = ray.data.ActorPoolStrategy(min_size=size, max_size=max(size, min(resources.max_workers, len(todo)))) \
        if resources.max_workers else ray.data.ActorPoolStrategy(size=size)
    remote = {"num_cpus": resources.cpus}
    if resources.gpus:
        remote["num_gpus"] = resources.gpus
    if resources.memory_gb:
        remote["memory"] = int(resources.memory_gb * 1024 ** 3)
    ds = ray.data.from_items([{"path": p, "shard": s} for p, s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(_ShardCall, fn_constructor_kwargs={"factory": factory}, batch_size=1, compute=compute,
                        zero_copy_batch=True, **remote)
    for row in ds.iter_rows():
        done(json.loads(row["stats"]))


# ------------------------------------------------------------------------------------------------ stateless tasks
RAY_TASK_RETRIES = {"max_retries": 4, "retry_exceptions": False}  # system failures (a dead worker) are retried


def map_tasks(fn: Callable[[dict], Any], items: list[dict], executor: str = "local",
              resources: Resources | None = None, progress: bool = False, label: str = "tasks") -> list:
    """Apply a stateless, picklable `fn` to every item (a dict of plain values), on the local pool or as Ray
    tasks (retried when a worker dies); returns the JSON-able results in item order."""
    resources = resources or Resources()
    if not items:
        return []
    results: list = [None] * len(items)
    with StageProgress(label, total=len(items), enabled=progress, unit="tasks") as bar:
        if executor == "ray":
            import ray.data

            # items travel as JSON text: Ray Data's columns would turn None into NaN and nested dicts into structs
            ds = ray.data.from_items([{"_i": i, "_task": json.dumps(it)} for i, it in enumerate(items)],
                                     override_num_blocks=len(items))
            ds = ds.map_batches(_indexed_call, fn_kwargs={"fn": fn}, batch_size=1, batch_format="numpy",
                                num_cpus=resources.cpus, **RAY_TASK_RETRIES)
            for row in ds.iter_rows():
                i, res = json.loads(row["result"])
                results[i] = res
                bar.advance()
            return results
        n = _local_workers(resources, len(items))
        if n == 1:
            for i, it in enumerate(items):
                results[i] = fn(it)
                bar.advance()
            return results
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            futures = {pool.submit(fn, it): i for i, it in enumerate(items)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.advance()
    return results


def _indexed_call(batch: dict, fn: Callable) -> dict:
    out = []
    for i, task in zip(batch["_i"], batch["_task"]):
        out.append(json.dumps([int(i), fn(json.loads(task))], default=str))
    return {"result": np.array(out, dtype=object)}


# ------------------------------------------------------------------------------------------------ aggregation
def sum_counts(stats: list[dict]) -> StageCounts:
    total = StageCounts()
    for s in stats:
        total = total.add(StageCounts.from_dict(s["counts"]))
    return total


def sum_steps(stats: list[dict]) -> dict[str, dict[str, float]]:
    """Per-step time summed over shards (worker seconds) and documents seen."""
    steps: dict[str, dict[str, float]] = {}
    for s in stats:
        for name, st in s.get("steps", {}).items():
            agg = steps.setdefault(name, {"wall_s": 0.0, "docs": 0})
            agg["wall_s"] += st["wall_s"]
            agg["docs"] += st["docs"]
    return steps


class Timer:
    """Accumulates wall time and document counts per named step."""

    def __init__(self):
        self.steps: dict[str, dict[str, float]] = {}

    def add(self, name: str, seconds: float, docs: int) -> None:
        st = self.steps.setdefault(name, {"wall_s": 0.0, "docs": 0})
        st["wall_s"] += seconds
        st["docs"] += docs

    def time(self, name: str, docs: int, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.add(name, time.perf_counter() - t0, docs)
        return out
