"""The stage runner: fan a stage's shards out over a Ray Data actor pool, skip finished shards, show progress.

A stage supplies a worker class (constructed once per actor, e.g. to load a model) whose `process(path, shard)`
handles one input shard end to end and returns its stats; the runner wraps it for `map_batches`, streams the
stats back as shards finish, and drives a rich progress bar. A shard is finished when its stats file
`stats/<stage>/<shard>.json` exists (written last, atomically), so an interrupted run started again with the same
command skips finished shards and produces exactly the output of an uninterrupted run.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.io import write_json_atomic
from pipeline.manifest import StageCounts
from pipeline.schema import shard_name


@dataclass(frozen=True)
class Layout:
    """Where a stage writes. `prefix` keeps file names of stages that share rejects/ and quarantine/ apart."""
    root: Path
    stage: str
    data_dir: Path | None = None
    prefix: str = ""

    @property
    def data(self) -> Path:
        return self.data_dir or self.root / "data"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def stats(self) -> Path:
        return self.root / "stats" / self.stage

    def to_json(self) -> str:
        return json.dumps({"root": str(self.root), "stage": self.stage,
                           "data_dir": str(self.data_dir) if self.data_dir else None, "prefix": self.prefix})

    @classmethod
    def from_json(cls, s: str) -> "Layout":
        d = json.loads(s)
        return cls(Path(d["root"]), d["stage"], Path(d["data_dir"]) if d["data_dir"] else None, d["prefix"])


class _ShardCall:
    """Adapter: Ray Data batch of shards -> worker.process per shard -> stats rows."""

    def __init__(self, worker_cls: type, worker_args: dict[str, Any]):
        self.worker = worker_cls(**worker_args)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [json.dumps(self.worker.process(str(p), str(s))) for p, s in zip(batch["path"], batch["shard"])]
        return {"stats": np.array(out, dtype=object)}


def run_shards(paths: list[str], layout: Layout, worker_cls: type, worker_args: dict[str, Any],
               workers: int = 0, progress: bool = True, label: str | None = None) -> list[dict]:
    """Process every input path as one shard; return the stats of all shards (finished earlier or now)."""
    import ray
    import ray.data

    shards = [(p, shard_name(p)) for p in paths]
    if len({s for _, s in shards}) != len(shards):
        raise ValueError("two inputs map to the same shard name")
    done, todo = [], []
    for p, s in shards:
        f = layout.stats / f"{s}.json"
        (done if f.exists() else todo).append((p, s))
    results = [json.loads((layout.stats / f"{s}.json").read_text()) for _, s in done]
    if not todo:
        return results
    if workers <= 0:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = min(workers, len(todo))
    ds = ray.data.from_items([{"path": p, "shard": s} for p, s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(_ShardCall, fn_constructor_kwargs={"worker_cls": worker_cls, "worker_args": worker_args},
                        batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                        zero_copy_batch=True)
    with StageProgress(label or layout.stage, total=len(shards), done=len(done), enabled=progress) as bar:
        for row in ds.iter_rows():
            stats = json.loads(row["stats"])
            results.append(stats)
            bar.advance(stats)
    return results


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


def write_shard_stats(layout: Layout, shard: str, stats: dict) -> None:
    write_json_atomic(stats, layout.stats / f"{shard}.json")


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


class StageProgress:
    """A rich progress bar over shards with running document counts; quiet when not on a terminal."""

    def __init__(self, label: str, total: int, done: int = 0, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.label, self.total, self.done = label, total, done
        self.docs = self.kept = 0
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("shards  {task.fields[docs]} docs, {task.fields[kept]} kept"),
                                      TimeElapsedColumn(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, completed=self.done, docs=0, kept=0)
        else:
            print(f"[assay] {self.label}: {self.total - self.done} shards to process "
                  f"({self.done} already done)", file=sys.stderr, flush=True)
        return self

    def advance(self, stats: dict) -> None:
        self.done += 1
        self.docs += stats["counts"]["input"]
        self.kept += stats["counts"]["kept"]
        if self._progress:
            self._progress.update(self._task, advance=1, docs=self.docs, kept=self.kept)
        else:
            print(f"[assay] {self.label}: shard {self.done}/{self.total} {stats.get('shard', '')} "
                  f"({self.docs} docs, {self.kept} kept)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()
        return False
