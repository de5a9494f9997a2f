"""The Ray executor: shards on a Ray Data actor pool sized by the stage's `Resources` (CPUs, GPUs, memory per
worker; fixed or autoscaling), stateless tasks as Ray Data tasks (GPUs asked for per task), and whole-dataset
groupings (dedupe's shuffles) run under the same no-progress watchdog. Ray restarts dead actors and retries their
shards, and re-runs killed tasks (`RAY_TASK_RETRIES`); the cluster failing under a stage (a lost node whose objects
Ray cannot rebuild, a worker Ray stopped retrying) stops the run with a `UserError` that says how many units
finished and to rerun; errors of the stage's own code pass through unchanged."""
from __future__ import annotations

import functools
import json
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.errors import UserError
from pipeline.progress import log
from pipeline.runner.env import Resources, RunEnv
from pipeline.watchdog import Watchdog, marked, worker_start

RAY_TASK_RETRIES = {"max_retries": 4, "retry_exceptions": False}  # system failures (a dead worker) are retried


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


def _remote_args(resources: Resources) -> dict:
    remote = {"num_cpus": resources.cpus}
    if resources.gpus:
        remote["num_gpus"] = resources.gpus
    if resources.memory_gb:
        remote["memory"] = int(resources.memory_gb * 1024 ** 3)
    return remote


def _check_gpus(resources: Resources) -> float:
    import ray

    gpus_total = ray.cluster_resources().get("GPU", 0)
    if resources.gpus > 0 and gpus_total < resources.gpus:
        raise UserError(f"the stage asks for {resources.gpus:g} GPU(s) per worker but the Ray cluster has "
                        f"{gpus_total:g}; set resources.gpus: 0 or run on a GPU cluster")
    return gpus_total


def run_shards_ray(todo, factory, resources: Resources, done, wd: Watchdog) -> None:
    import ray
    import ray.data

    gpus_total = _check_gpus(resources)
    size = resources.workers
    if size <= 0:
        cpus = ray.cluster_resources().get("CPU", 1)
        size = max(1, int(cpus // resources.cpus))
        if resources.gpus > 0:
            size = max(1, min(size, int(gpus_total // resources.gpus)))
    size = min(size, len(todo))
    compute = ray.data.ActorPoolStrategy(min_size=size, max_size=max(size, min(resources.max_workers, len(todo)))) \
        if resources.max_workers else ray.data.ActorPoolStrategy(size=size)
    ds = ray.data.from_items([{"path": p, "shard": s} for p, s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(_ShardCall, fn_constructor_kwargs={"factory": factory, "marker_dir": wd.marker_dir},
                        batch_size=1, compute=compute, zero_copy_batch=True, **_remote_args(resources))

    def on_row(row) -> None:
        stats = json.loads(row["stats"])
        done(stats["shard"], stats)

    consume(ds, wd, on_row, [(s, s, p) for p, s in todo], lambda row: json.loads(row["stats"])["shard"])


def map_tasks_ray(fn: Callable, items: list[dict], units: list, resources: Resources, done, wd: Watchdog) -> None:
    import ray.data

    _check_gpus(resources)
    # items travel as JSON text: Ray Data's columns would turn None into NaN and nested dicts into structs
    ds = ray.data.from_items([{"_i": i, "_task": json.dumps(it)} for i, it in enumerate(items)],
                             override_num_blocks=len(items))
    remote = _remote_args(resources)
    remote.pop("memory", None)
    ds = ds.map_batches(_indexed_call, fn_kwargs={"fn": fn, "marker_dir": wd.marker_dir}, batch_size=1,
                        batch_format="numpy", **remote, **RAY_TASK_RETRIES)

    def on_row(row) -> None:
        i, res = json.loads(row["result"])
        done(str(i), res)

    consume(ds, wd, on_row, units, lambda row: str(json.loads(row["result"])[0]))


def task_name(item: dict, i: int) -> str:
    for k in ("name", "shard"):
        if isinstance(item.get(k), str):
            return item[k]
    if isinstance(item.get("path"), str):
        import os

        return os.path.basename(item["path"])
    return f"task {i}"


def _indexed_call(batch: dict, fn: Callable, marker_dir: str | None = None) -> dict:
    out = []
    for i, task in zip(batch["_i"], batch["_task"]):
        item = json.loads(task)
        path = item.get("path") if isinstance(item.get("path"), str) else None
        with marked(marker_dir, str(int(i)), task_name(item, int(i)), path):
            out.append(json.dumps([int(i), fn(item)], default=str))
    return {"result": np.array(out, dtype=object)}


def consume(ds, wd: Watchdog, on_row: Callable, units: list[tuple[str, str, str | None]], key_of: Callable) -> None:
    """Iterate a Ray dataset's rows under the watchdog: the rows are pulled in a thread; when nothing arrives for
    `wd.seconds`, the stuck workers of this machine are killed, the dataset's executor is shut down with force (its
    actors killed, its tasks cancelled), the row thread is waited for, and the UserError raised."""
    rows: queue.Queue = queue.Queue()
    finished: set[str] = set()

    def pump() -> None:
        try:
            for row in ds.iter_rows():
                rows.put(("row", row))
            rows.put(("end", None))
        except BaseException as e:  # handed to the consuming thread
            rows.put(("error", e))

    def stuck() -> UserError:
        left = [u for u in units if u[0] not in finished]
        err = wd.error(left)
        wd.kill_stuck(left)
        return err

    _guarded(ds, wd, pump, rows, stuck, lambda value: (finished.add(key_of(value)), on_row(value)))


class Groupings:
    """Whole-dataset Ray Data steps (dedupe's shuffles and star rounds) under the no-progress watchdog: their
    functions run wrapped by `task(fn)` (a marker per running task, so tasks starting count as progress, and the
    stuck ones can be killed), and `run(ds, action)` executes the dataset (default: materialize) in a thread; when
    nothing starts or finishes for the limit, the execution is shut down with force and the run stops with the
    one-line message."""

    def __init__(self, env: RunEnv, label: str):
        self.wd = env.watchdog(label, 0, unit="grouping tasks")

    def task(self, fn: Callable) -> Callable:
        return functools.partial(_beating, fn, self.wd.marker_dir, self.wd.label)

    def run(self, ds, action: Callable | None = None):
        out: queue.Queue = queue.Queue()

        def pump() -> None:
            try:
                out.put(("end", (action or (lambda d: d.materialize()))(ds)))
            except BaseException as e:
                out.put(("error", e))

        def stuck() -> UserError:
            running = [(m["key"], m.get("name", ""), m.get("path")) for m in self.wd.markers() if m.get("key")]
            err = self.wd.error(running)
            self.wd.kill_stuck(running)
            return err

        return _guarded(ds, self.wd, pump, out, stuck, None)

    def close(self) -> None:
        self.wd.close()


def _beating(fn: Callable, marker_dir: str | None, label: str, batch, **kwargs):
    with marked(marker_dir, f"{uuid.uuid4().hex[:12]}", label, None):
        return fn(batch, **kwargs)


def _guarded(ds, wd: Watchdog, pump: Callable, results: queue.Queue, stuck: Callable[[], UserError],
             on_row: Callable | None):
    thread = threading.Thread(target=pump, daemon=True, name="assay-ray-rows")
    thread.start()
    ok = False
    try:
        while True:
            try:
                kind, value = results.get(timeout=wd.poll())
            except queue.Empty:
                if wd.expired():
                    raise stuck() from None
                continue
            if kind == "end":
                ok = True
                return value
            if kind == "error":
                raise cluster_failure(value, wd) or value
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


def cluster_failure(exc: BaseException, wd: Watchdog) -> UserError | None:
    """A UserError for a failure of the Ray cluster itself (a lost node, a worker Ray stopped retrying), found
    in `exc`'s cause chain; None for anything else (errors of the stage's own code pass through unchanged)."""
    from pipeline.errors import cause_chain, user_error_in

    if user_error_in(exc) is not None:
        return None
    for e in cause_chain(exc):
        if type(e).__name__ in _CLUSTER_ERRORS and type(e).__module__.startswith("ray"):
            first = " ".join(str(e).split())[:300]
            total = f" of {wd.total}" if wd.total else ""
            err = UserError(f"{wd.label}: the Ray cluster lost a node or worker ({type(e).__name__}: {first}); "
                            f"{wd.done}{total} {wd.unit} finished and are kept; rerun the same command to "
                            "finish the rest")
            err.__cause__ = exc
            return err
    return None
