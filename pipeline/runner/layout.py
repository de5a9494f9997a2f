"""Where a stage writes (`Layout`; chained and nested with `Layout.sub`), the one shard-stats schema, and the
sums over it.

Shard stats schema: {"shard", "path", "counts": {input, kept, removed{reason: n}, quarantined}, "steps":
{step: {"wall_s", "docs"}}, "extra": {...}, "wall_s"}. A shard is finished when its stats file `<stats>/<shard>.json`
exists (written last, atomically).
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from pipeline.io import write_json_atomic
from pipeline.manifest import StageCounts
from pipeline.schema import shard_name


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

    def sub(self, name: str, *, last: bool = False) -> "Layout":
        """Part `name` of a run writing into this layout's root: a sub-stage of a chain (`curate`, `generate`:
        named by the sub-stage) or a pass inside a stage (dedupe's ingest, classify's scoring: named
        `<stage>-<pass>`). It keeps what it kept in `work/<name>/data/` (the next part's input; this layout's `data/`
        when it is the `last` part), its intermediates and manifest in `work/<name>/`, its shard stats in
        `stats/<name>/`, and shares `rejects/` and `quarantine/` (file names prefixed `<name>-`)."""
        work = self.root / "work" / name
        return replace(self, stage=name, data=self.data if last else work / "data", stats=self.root / "stats" / name,
                       work=work, manifest=work / "manifest.json", prefix=f"{name}-")

    def reject_file(self, shard: str) -> Path:
        return self.rejects / f"{self.prefix}{shard}.parquet"

    def quarantine_file(self, shard: str) -> Path:
        return self.quarantine / f"{self.prefix}{shard}.parquet"

    def stats_file(self, shard: str) -> Path:
        return self.stats / f"{shard}.json"

    def to_dict(self) -> dict:
        """Plain strings (for tasks whose arguments travel as JSON)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls(**{k: v if k in ("stage", "prefix") else Path(v) for k, v in d.items()})


def shard_stats(shard: str, path: str, counts: StageCounts | dict, steps: dict | None = None,
                extra: dict | None = None, wall_s: float = 0.0) -> dict:
    counts = counts.to_dict() if isinstance(counts, StageCounts) else counts
    return {"shard": shard, "path": path, "counts": counts, "steps": steps or {}, "extra": extra or {},
            "wall_s": round(wall_s, 3)}


def write_shard_stats(layout: Layout, stats: dict) -> None:
    write_json_atomic(stats, layout.stats_file(stats["shard"]))  # last: marks the shard done


def write_poison_shard(layout: Layout, shard: str, path: str, deaths: int, how: str) -> dict:
    """A shard that killed its worker process `deaths` times: one quarantined unit (reason `poison_shard`, the
    file named in quarantine/), so the rest of the run goes on, conservation holds and a rerun does not kill
    workers with it again (`--overwrite` starts over)."""
    from pipeline.io import write_parquet_atomic
    from pipeline.schema import Bad, quarantine_table

    error = f"the worker process died {deaths} times while processing this file ({how}); out of memory?"
    write_parquet_atomic(quarantine_table([Bad(path, -1, error, None, "poison_shard")]), layout.quarantine_file(shard))
    stats = shard_stats(shard, path, StageCounts(1, 0, {}, 1),
                        extra={"quarantine_reasons": {"poison_shard": 1}, "poison": {"deaths": deaths, "how": how}})
    write_shard_stats(layout, stats)
    return stats


def plan_shards(paths: list[str]) -> list[tuple[str, str]]:
    shards = [(p, shard_name(p)) for p in paths]
    if len({s for _, s in shards}) != len(shards):
        raise ValueError("two inputs map to the same shard name")
    return shards


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


def shard_extras(stats: list[dict], **extra) -> dict:
    """Manifest extras every shard stage has: shard count, quarantine reasons summed over shards, poison shards."""
    reasons: Counter = Counter()
    for s in stats:
        reasons.update(s.get("extra", {}).get("quarantine_reasons", {}))
    out = {**extra, "shards": len(stats), "quarantined_by_reason": dict(sorted(reasons.items()))}
    poison = [s["path"] for s in stats if "poison" in s.get("extra", {})]
    if poison:
        out["poison_shards"] = poison
    return out


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
