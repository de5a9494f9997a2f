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

No-progress watchdog (`Runtime.watchdog_s`, default 600 s; 0 switches it off): when for that long no shard (or
task) finishes, no worker starts one and no worker starts or finishes its set-up, the run stops with a one-line
`UserError` naming the stage, the shards still running (where, for how long) and the last progress, and the stuck
workers are killed, not waited on (local pool: its processes are SIGKILLed; Ray: the dataset's executor is shut
down with force, which kills its actors and cancels its tasks; in this process: the call is interrupted, and a
native call that does not return to Python ends the process with the same message, exit 2). Finished shards stay
done, so the same command resumes. Workers note what they work on in marker files of a temporary folder of the
driver's machine (on another machine, without that folder, the message lists the unfinished shards instead).
`choose_executor` applies a stage's `Runtime.watchdog_s`; `run_shards`/`map_tasks` also take `watchdog_s`.

The Ray cluster failing under a stage (a lost node whose objects Ray cannot rebuild, a worker Ray stopped
retrying) stops the run with a `UserError` that says how many shards finished and to rerun; errors of the stage's
own code pass through unchanged. Ray's own retries come first: a killed actor is restarted and its shard re-run, a
killed task re-run (`RAY_TASK_RETRIES`).

Shard stats schema: {"shard", "path", "counts": {input, kept, removed{reason: n}, quarantined}, "steps":
{step: {"wall_s", "docs"}}, "extra": {...}, "wall_s"}.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import UserError
from pipeline.io import write_json_atomic
from pipeline.watchdog import InProcessGuard, Watchdog, current_watchdog, marked, set_watchdog, worker_start
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
    watchdog_s: float = Field(600.0, ge=0, description="stop the run (killing its stuck workers) when no shard or "
                                                       "task finishes for this many seconds; 0: never")


# The runtime's run-wide setting, recorded by choose_executor for the runner calls after it in this process.
_retries = 3


def set_retries(retries: int) -> None:
    """The local pool's re-runs after dead workers for later runner calls that do not pass their own."""
    global _retries
    _retries = int(retries)


def runtime_scope(fn: Callable) -> Callable:
    """Decorates a stage's entry point: the run-wide settings its `choose_executor` calls apply hold for that run
    only and are restored when it returns (a library caller's next run, or a test's, never inherits a short
    watchdog)."""
    import functools

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        watchdog, retries = current_watchdog(), _retries
        try:
            return fn(*args, **kwargs)
        finally:
            set_watchdog(watchdog)
            set_retries(retries)

    return scoped


def choose_executor(runtime: Runtime, address: str | None, docs_estimate: int = 0, memory_bound: bool = False) -> str:
    """The executor a stage runs on; also applies the runtime's run-wide settings (watchdog, retries) to the
    runner."""
    set_watchdog(runtime.watchdog_s)
    set_retries(runtime.retries)
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


def _init_worker(factory: Callable[[], Any], marker_dir: str | None = None) -> None:
    global _WORKER
    with worker_start(marker_dir):
        _WORKER = factory()


def _process(path: str, shard: str, marker_dir: str | None = None) -> dict:
    with marked(marker_dir, shard, shard, path):
        return _WORKER.process(path, shard)


class _ShardCall:
    """Ray Data adapter: a batch of shard descriptors -> worker.process per shard -> stats rows."""

    def __init__(self, factory: Callable[[], Any], marker_dir: str | None = None):
        with worker_start(marker_dir):
            self.worker = factory()
        self.marker_dir = marker_dir

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for p, s in zip(batch["path"], batch["shard"]):
            with marked(self.marker_dir, str(s), str(s), str(p)):
                out.append(json.dumps(self.worker.process(str(p), str(s))))
        return {"stats": np.array(out, dtype=object)}


def plan_shards(paths: list[str]) -> list[tuple[str, str]]:
    shards = [(p, shard_name(p)) for p in paths]
    if len({s for _, s in shards}) != len(shards):
        raise ValueError("two inputs map to the same shard name")
    return shards


def run_shards(paths: list[str], layout: Layout, factory: Callable[[], Any], resources: Resources | None = None,
               executor: str = "local", progress: bool = True, label: str | None = None,
               retries: int | None = None, watchdog_s: float | None = None) -> list[dict]:
    """Process every input path as one shard; return the stats of all shards (finished earlier or now), in input
    order. `retries` (local pool) and `watchdog_s` (the no-progress limit): default the runtime's (`Runtime`,
    applied by `choose_executor`)."""
    resources = resources or Resources()
    retries = _retries if retries is None else retries
    shards = plan_shards(paths)
    todo = [(p, s) for p, s in shards if not layout.stats_file(s).exists()]
    results: dict[str, dict] = {}
    with StageProgress(label or layout.stage, total=len(shards), done=len(shards) - len(todo),
                       enabled=progress) as bar:
        def done(key: str, stats: dict) -> None:
            results[stats["shard"]] = stats
            bar.advance(stats["counts"]["input"], stats["counts"]["kept"])

        if todo:
            wd = Watchdog(label or layout.stage, len(shards), len(shards) - len(todo), watchdog_s)
            try:
                run = _run_ray if executor == "ray" else _run_local
                run(todo, factory, resources, done, retries, wd)
            finally:
                wd.close()
    out = []
    for _, s in shards:
        out.append(results.get(s) or json.loads(layout.stats_file(s).read_text()))
    return out


def _local_workers(resources: Resources, n_todo: int) -> int:
    n = resources.workers or max(1, int((os.cpu_count() or 1) // resources.cpus))
    return max(1, min(n, n_todo))


def _run_local(todo, factory, resources: Resources, done, retries: int, wd: Watchdog) -> None:
    n = _local_workers(resources, len(todo))
    if n == 1:
        worker = factory()
        try:
            with InProcessGuard(wd) as guard:
                for p, s in todo:
                    guard.working_on(s, s, p)
                    done(s, worker.process(p, s))
                    wd.progress()
        finally:
            getattr(worker, "close", lambda: None)()
        return
    calls = [(s, s, p, _process, (p, s, wd.marker_dir)) for p, s in todo]
    _pool_run(calls, n, wd, done, retries, _init_worker, (factory, wd.marker_dir))


def _pool_run(calls: list[tuple], n: int, wd: Watchdog, done: Callable[[str, Any], None], retries: int,
              initializer: Callable | None = None, initargs: tuple = ()) -> None:
    """Run `calls` ((key, name, path, fn, args)) on a pool of spawned processes. A pool broken by a dead worker is
    rebuilt and the unfinished calls re-run, up to `retries` times; when the watchdog expires, or a call fails, the
    pool's processes are killed (not waited on)."""
    pending = list(calls)
    for attempt in range(retries + 1):
        pool = ProcessPoolExecutor(max_workers=min(n, len(pending)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=initializer, initargs=initargs)
        failed: list[tuple] = []
        clean = False
        try:
            futures = {}
            for c in pending:
                try:
                    futures[pool.submit(c[3], *c[4])] = c
                except BrokenProcessPool:
                    failed.append(c)
            waiting = set(futures)
            while waiting:
                finished, waiting = wait(waiting, timeout=wd.poll(), return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        failed.append(futures[fut])
                        continue
                    done(futures[fut][0], res)
                    wd.progress()
                if not finished and wd.expired():
                    raise wd.error([futures[f][:3] for f in waiting])
            clean = True
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:
                _kill_pool(pool)
        if not failed:
            return
        pending = failed
        wd.restart()
        log(f"a worker process died; re-running {len(failed)} unfinished {wd.unit} "
            f"(attempt {attempt + 2} of {retries + 1})", stage=wd.label)
    raise UserError(f"{wd.label}: worker processes kept dying ({retries + 1} attempts; out of memory?); "
                    f"{len(pending)} {wd.unit} unfinished: {', '.join(c[1] for c in pending[:5])}"
                    f"{' ...' if len(pending) > 5 else ''}. Finished ones are kept: rerun the same command to resume, "
                    "or raise runtime.retries")


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's processes (SIGKILL: also a call stuck in native code) and drop its queued calls."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.kill()
        except Exception:  # already gone
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.join(timeout=10)
        except Exception:
            pass


def _run_ray(todo, factory, resources: Resources, done, retries: int, wd: Watchdog) -> None:
    import ray
    import ray.data

    gpus_total = ray.cluster_resources().get("GPU", 0)
    if resources.gpus > 0 and gpus_total < resources.gpus:
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
    ds = ds.map_batches(_ShardCall, fn_constructor_kwargs={"factory": factory, "marker_dir": wd.marker_dir},
                        batch_size=1, compute=compute, zero_copy_batch=True, **remote)

    def on_row(row) -> None:
        stats = json.loads(row["stats"])
        done(stats["shard"], stats)

    _consume_ray(ds, wd, on_row, [(s, s, p) for p, s in todo], lambda row: json.loads(row["stats"])["shard"])


def _consume_ray(ds, wd: Watchdog, on_row: Callable, units: list[tuple[str, str, str | None]],
                 key_of: Callable) -> None:
    """Iterate a Ray dataset's rows under the watchdog: the rows are pulled in a thread; when nothing arrives for
    `wd.seconds`, the stuck workers of this machine are killed, the dataset's executor is shut down with force (its
    actors killed, its tasks cancelled), the row thread is waited for, and the UserError raised. A failure of the cluster itself (a dead node or worker Ray gave up on) becomes a UserError
    that says to rerun."""
    rows: queue.Queue = queue.Queue()
    finished: set[str] = set()

    def pump() -> None:
        try:
            for row in ds.iter_rows():
                rows.put(("row", row))
            rows.put(("end", None))
        except BaseException as e:  # handed to the consuming thread
            rows.put(("error", e))

    thread = threading.Thread(target=pump, daemon=True, name="assay-ray-rows")
    thread.start()
    ok = False
    try:
        while True:
            try:
                kind, value = rows.get(timeout=wd.poll())
            except queue.Empty:
                if wd.expired():
                    stuck = [u for u in units if u[0] not in finished]
                    err = wd.error(stuck)
                    wd.kill_stuck(stuck)
                    raise err from None
                continue
            if kind == "end":
                ok = True
                return
            if kind == "error":
                raise _cluster_failure(value, wd) or value
            finished.add(key_of(value))
            on_row(value)
            wd.progress()
    finally:
        if not ok:
            _shutdown_dataset(ds)
            # The row thread must end before this returns: a caller that then calls ray.shutdown() while it still
            # waits inside Ray ends the whole process (Ray exits a process whose frontend uses a shut-down core
            # worker; a test session died that way).
            thread.join(timeout=300)
            if thread.is_alive():
                log("the Ray Data row iterator did not stop within 300 s of the forced shutdown; do not call "
                    "ray.shutdown() in this process", stage="runner")


def _shutdown_dataset(ds) -> None:
    """Stop a dataset's execution now: actors killed, tasks cancelled (Ray Data's own forced shutdown)."""
    executor = getattr(ds, "_current_executor", None)
    if executor is not None:
        try:
            executor.shutdown(force=True)
        except Exception as e:  # pragma: no cover - best effort
            log(f"could not shut down the Ray Data executor: {type(e).__name__}: {e}", stage="runner")


_CLUSTER_ERRORS = ("NodeDiedError", "ObjectLostError", "ObjectFetchTimedOutError", "OwnerDiedError",
                   "ReferenceCountingAssertionError", "ObjectReconstructionFailedError",
                   "ObjectReconstructionFailedMaxAttemptsExceededError",
                   "ObjectReconstructionFailedLineageEvictedError", "ActorDiedError", "ActorUnavailableError",
                   "WorkerCrashedError", "RaySystemError", "LocalRayletDiedError", "RayActorError",
                   "OutOfMemoryError")


def _cluster_failure(exc: BaseException, wd: Watchdog) -> UserError | None:
    """A UserError for a failure of the Ray cluster itself (a lost node, a worker Ray stopped retrying), found
    in `exc`'s cause chain; None for anything else (errors of the stage's own code pass through unchanged)."""
    from pipeline.errors import cause_chain, user_error_in

    if user_error_in(exc) is not None:
        return None
    for e in cause_chain(exc):
        if type(e).__name__ in _CLUSTER_ERRORS and type(e).__module__.startswith("ray"):
            first = " ".join(str(e).split())[:300]
            err = UserError(f"{wd.label}: the Ray cluster lost a node or worker ({type(e).__name__}: {first}); "
                            f"{wd.done} of {wd.total} {wd.unit} finished and are kept; rerun the same command to "
                            "finish the rest")
            err.__cause__ = exc
            return err
    return None


# ------------------------------------------------------------------------------------------------ stateless tasks
RAY_TASK_RETRIES = {"max_retries": 4, "retry_exceptions": False}  # system failures (a dead worker) are retried


def map_tasks(fn: Callable[[dict], Any], items: list[dict], executor: str = "local",
              resources: Resources | None = None, progress: bool = False, label: str = "tasks",
              retries: int | None = None, watchdog_s: float | None = None) -> list:
    """Apply a stateless, picklable `fn` to every item (a dict of plain values), on the local pool or as Ray
    tasks (re-run when a worker dies); returns the JSON-able results in item order. `retries`, `watchdog_s`: as
    `run_shards`."""
    resources = resources or Resources()
    retries = _retries if retries is None else retries
    if not items:
        return []
    results: list = [None] * len(items)
    units = [(str(i), _task_name(it, i), it.get("path") if isinstance(it.get("path"), str) else None)
             for i, it in enumerate(items)]
    with StageProgress(label, total=len(items), enabled=progress, unit="tasks") as bar:
        def done(key: str, res) -> None:
            results[int(key)] = res
            bar.advance()

        wd = Watchdog(label, len(items), 0, watchdog_s, "tasks")
        try:
            if executor == "ray":
                import ray.data

                # items travel as JSON text: Ray Data's columns would turn None into NaN and nested dicts into
                # structs
                ds = ray.data.from_items([{"_i": i, "_task": json.dumps(it)} for i, it in enumerate(items)],
                                         override_num_blocks=len(items))
                ds = ds.map_batches(_indexed_call, fn_kwargs={"fn": fn, "marker_dir": wd.marker_dir},
                                    batch_size=1, batch_format="numpy", num_cpus=resources.cpus, **RAY_TASK_RETRIES)

                def on_row(row) -> None:
                    i, res = json.loads(row["result"])
                    done(str(i), res)

                _consume_ray(ds, wd, on_row, units, lambda row: str(json.loads(row["result"])[0]))
                return results
            n = _local_workers(resources, len(items))
            if n == 1:
                with InProcessGuard(wd) as guard:
                    for (key, name, path), it in zip(units, items):
                        guard.working_on(key, name, path)
                        done(key, fn(it))
                        wd.progress()
                return results
            calls = [(key, name, path, _tracked_call, (fn, it, wd.marker_dir, key, name, path))
                     for (key, name, path), it in zip(units, items)]
            _pool_run(calls, n, wd, done, retries)
        finally:
            wd.close()
    return results


def _task_name(item: dict, i: int) -> str:
    for k in ("name", "shard"):
        if isinstance(item.get(k), str):
            return item[k]
    if isinstance(item.get("path"), str):
        return os.path.basename(item["path"])
    return f"task {i}"


def _tracked_call(fn: Callable, item: dict, marker_dir: str | None, key: str, name: str, path: str | None):
    with marked(marker_dir, key, name, path):
        return fn(item)


def _indexed_call(batch: dict, fn: Callable, marker_dir: str | None = None) -> dict:
    out = []
    for i, task in zip(batch["_i"], batch["_task"]):
        item = json.loads(task)
        path = item.get("path") if isinstance(item.get("path"), str) else None
        with marked(marker_dir, str(int(i)), _task_name(item, int(i)), path):
            out.append(json.dumps([int(i), fn(item)], default=str))
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
            for k, v in st.items():  # wall_s, docs, and cpu_s where a step measures it
                agg[k] = agg.get(k, 0) + v
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
