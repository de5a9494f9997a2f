"""The run environment: what a stage needs (`Resources`), how a run runs (`Runtime`), and the one value built once
per run and passed down to every runner call (`RunEnv`: executor, runtime settings, progress, cluster address)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.watchdog import DEFAULT_WATCHDOG_S, Watchdog


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
    retries: int = Field(3, ge=0, description="local executor: re-runs of a shard (or task) whose worker process "
                                              "died; one that kills its worker retries + 1 times is a poison shard "
                                              "(quarantined) or a failed task")
    watchdog_s: float = Field(DEFAULT_WATCHDOG_S, ge=0, description="stop the run (killing its stuck workers) when "
                                                                    "no shard or task finishes for this many "
                                                                    "seconds; 0: never")


@dataclass(frozen=True)
class RunEnv:
    """Built once per run (`RunEnv.start`) and passed down: the executor (`local` or `ray`), the runtime settings
    (retries, watchdog), whether to show progress, and the Ray address. A chain re-chooses the executor per
    sub-stage (`choose`: memory-bound ones may switch to Ray above `local_max_docs`)."""
    executor: Literal["local", "ray"] = "local"
    runtime: Runtime = field(default_factory=Runtime)
    progress: bool = True
    address: str | None = None

    @classmethod
    def start(cls, runtime: Runtime | None = None, address: str | None = None, progress: bool = True,
              docs: int = 0, memory_bound: bool = False) -> "RunEnv":
        return cls("local", runtime or Runtime(), progress, address).choose(docs, memory_bound)

    def choose(self, docs: int = 0, memory_bound: bool = False) -> "RunEnv":
        """This environment with the executor for a stage of `docs` documents (starting or joining Ray when it is
        `ray`): the runtime's, or with `auto` Ray when a cluster is named (or the stage is memory-bound and large)."""
        executor = self.runtime.executor
        if executor == "auto":
            named = self.address or os.environ.get("RAY_ADDRESS")
            executor = "ray" if named or (memory_bound and docs > self.runtime.local_max_docs) else "local"
        if executor == "ray":
            from pipeline.ray_env import init_ray

            init_ray(self.address)
        return replace(self, executor=executor)

    @property
    def ray(self) -> bool:
        return self.executor == "ray"

    @property
    def retries(self) -> int:
        return self.runtime.retries

    def quiet(self) -> "RunEnv":
        return replace(self, progress=False)

    def watchdog(self, label: str, total: int, done: int = 0, unit: str = "shards") -> Watchdog:
        return Watchdog(label, total, done, self.runtime.watchdog_s, unit)
