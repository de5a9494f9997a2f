"""The stage runner: one shard worker per process, fanned out over a local process pool or a Ray Data actor pool.

A stage hands `run_shards` a list of shards (input path -> output shard name) and a picklable factory that builds
its worker once per process (to load a model once); the worker's `process(path, shard)` handles one shard end to end
and returns its stats (`layout.shard_stats`). A shard is finished when its stats file exists (written last,
atomically), so an interrupted run started again with the same command skips finished shards and produces exactly
the output of an uninterrupted run. `map_tasks` applies a stateless function to items the same way.

Every call takes the run's environment (`RunEnv`, built once per run: executor, runtime settings, progress,
address). Executors, one module each:
- `local`: this machine, no Ray: in this process for one worker, else a pool of spawned processes; a worker that
  dies is replaced and only its shard re-run (`Runtime.retries` times per shard); a shard that kills its worker
  retries + 1 times is quarantined as a poison shard (reason `poison_shard`) and the rest go on;
- `raydata`: a Ray Data actor pool sized by the stage's `Resources`; Ray restarts dead actors and retries their
  shards; tasks ask for the `Resources`' CPUs and GPUs;
- `auto` (default, resolved by `RunEnv.choose`): `ray` when a cluster is named (`--address`, or inside a Ray job),
  else `local`. Stages whose memory grows with the input (dedupe) also switch to `ray` above `local_max_docs`.

No-progress watchdog (`Runtime.watchdog_s`, default 600 s; 0 switches it off; `pipeline/watchdog.py`): when for
that long no shard (or task) finishes, no worker starts one, no worker starts or finishes its set-up and no long
unit beats (`watchdog.beat`, a training loop's), the run stops with a one-line `UserError` naming the stage, the
shards still running (where, for how long) and the last progress, and the stuck workers are killed, not waited on
(local pool: its processes are SIGKILLed; Ray: the dataset's executor is shut down with force, which kills its
actors and cancels its tasks; in this process: the call is interrupted, and a native call that does not return to
Python ends the process with the same message, exit 2). Finished shards stay done, so the same command resumes.
Ray Data groupings (dedupe's shuffles) run under it too (`Groupings`).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipeline.errors import UserError
from pipeline.progress import StageProgress
from pipeline.runner.env import Resources, RunEnv, Runtime
from pipeline.runner.layout import (Layout, Timer, plan_shards, shard_extras, shard_stats, sum_counts, sum_steps,
                                    write_poison_shard, write_shard_stats)
from pipeline.runner.local import in_process, local_workers, pool_run
from pipeline.runner.raydata import RAY_TASK_RETRIES, Groupings, map_tasks_ray, run_shards_ray, task_name
from pipeline.watchdog import marked

__all__ = ["Resources", "Runtime", "RunEnv", "Layout", "Timer", "Groupings", "RAY_TASK_RETRIES", "run_shards",
           "map_tasks", "plan_shards", "shard_stats", "write_shard_stats", "sum_counts", "sum_steps", "shard_extras"]

_WORKER = None  # the worker of this pool process


def _init_worker(factory: Callable[[], Any]) -> None:
    global _WORKER
    _WORKER = factory()


def _process(path: str, shard: str, marker_dir: str | None = None) -> dict:
    with marked(marker_dir, shard, shard, path):
        return _WORKER.process(path, shard)


def run_shards(paths: list[str], layout: Layout, factory: Callable[[], Any], env: RunEnv,
               resources: Resources | None = None, label: str | None = None) -> list[dict]:
    """Process every input path as one shard; return the stats of all shards (finished earlier or now), in input
    order."""
    resources = resources or Resources()
    label = label or layout.stage
    shards = plan_shards(paths)
    todo = [(p, s) for p, s in shards if not layout.stats_file(s).exists()]
    results: dict[str, dict] = {}
    with StageProgress(label, total=len(shards), done=len(shards) - len(todo), enabled=env.progress) as bar:
        def done(key: str, stats: dict) -> None:
            results[stats["shard"]] = stats
            bar.advance(stats["counts"]["input"], stats["counts"]["kept"])

        if todo:
            wd = env.watchdog(label, len(shards), len(shards) - len(todo))
            try:
                if env.ray:
                    run_shards_ray(todo, factory, resources, done, wd)
                elif local_workers(resources.cpus, resources.workers, len(todo)) == 1:
                    worker = factory()
                    try:
                        in_process([(s, s, p, worker.process, (p, s)) for p, s in todo], wd, done)
                    finally:
                        getattr(worker, "close", lambda: None)()
                else:
                    calls = [(s, s, p, _process, (p, s, wd.marker_dir)) for p, s in todo]
                    n = local_workers(resources.cpus, resources.workers, len(todo))
                    for (_, s, p, _, _), deaths, how in pool_run(calls, n, wd, done, env.retries, _init_worker,
                                                                 (factory,)):
                        done(s, write_poison_shard(layout, s, p, deaths, how))
            finally:
                wd.close()
    return [results.get(s) or json.loads(layout.stats_file(s).read_text()) for _, s in shards]


def map_tasks(fn: Callable[[dict], Any], items: list[dict], env: RunEnv, resources: Resources | None = None,
              label: str = "tasks", on_result: Callable[[dict, Any], None] | None = None) -> list:
    """Apply a stateless, picklable `fn` to every item (a dict of plain values), on the local pool or as Ray
    tasks (with the `Resources`' CPUs and GPUs; re-run when a worker dies); returns the JSON-able results in item
    order. `on_result(item, result)` is called in this process as each finishes. A task that kills its local
    worker retries + 1 times fails the run once the other tasks have finished."""
    resources = resources or Resources()
    if not items:
        return []
    results: list = [None] * len(items)
    units = [(str(i), task_name(it, i), it.get("path") if isinstance(it.get("path"), str) else None)
             for i, it in enumerate(items)]
    with StageProgress(label, total=len(items), enabled=env.progress, unit="tasks") as bar:
        def done(key: str, res) -> None:
            results[int(key)] = res
            if on_result is not None:
                on_result(items[int(key)], res)
            bar.advance()

        wd = env.watchdog(label, len(items), 0, "tasks")
        try:
            if env.ray:
                map_tasks_ray(fn, items, units, resources, done, wd)
            elif local_workers(resources.cpus, resources.workers, len(items)) == 1:
                in_process([(key, name, path, fn, (it,)) for (key, name, path), it in zip(units, items)], wd, done)
            else:
                calls = [(key, name, path, _tracked_call, (fn, it, wd.marker_dir, key, name, path))
                         for (key, name, path), it in zip(units, items)]
                poison = pool_run(calls, local_workers(resources.cpus, resources.workers, len(items)), wd, done,
                                  env.retries)
                if poison:
                    names = ", ".join(c[1] for c, _, _ in poison[:5])
                    (call, deaths, how), more = poison[0], len(poison) - 1
                    raise UserError(f"{label}: {names}{' ...' if more > 4 else ''} killed the worker process "
                                    f"{deaths} times ({how}; out of memory?); the other tasks finished. Rerun the "
                                    "same command to retry, or raise runtime.retries")
        finally:
            wd.close()
    return results


def _tracked_call(fn: Callable, item: dict, marker_dir: str | None, key: str, name: str, path: str | None):
    with marked(marker_dir, key, name, path):
        return fn(item)
