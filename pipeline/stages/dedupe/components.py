"""Step 3, components: union-find in this process up to `max_edges_in_memory` edges (or on the local executor),
else large-star/small-star rounds on Ray Data; both label each node with the smallest node of its component and
write the labels as a node-ranged table."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from filters.dedupe import kernels
from filters.dedupe.components import union_find_components
from pipeline.runner import RAY_TASK_RETRIES
from pipeline.stages.dedupe.plan import DedupeRun
from pipeline.stages.dedupe.tables import COMPONENT_SCHEMA, NodeRanges, read_dir, write_ranges_local, write_ranges_ray


def run(r: DedupeRun) -> dict:
    t0 = time.perf_counter()
    out, edges = r.work / "components", r.work / "edges"
    algo = "union_find" if r.edges <= r.cfg.max_edges_in_memory or not r.ray else "star"
    rounds = 0
    if not out.exists():
        ranges = NodeRanges(r.node_lo, r.total, min(2 * r.edges, r.total - r.node_lo))
        if algo == "union_find":
            memory_components(edges, out, ranges)
        else:
            parts = max(1, -(-2 * r.edges // r.cfg.shuffle_rows_per_partition))
            rounds = distributed_components(edges, out, parts, ranges, r)
    r.say(f"components: {algo}")
    return r.timing(t0, algorithm=algo, rounds=rounds)


def memory_components(edges_dir: Path, out_dir: Path, ranges: NodeRanges) -> None:
    """Union-find in this process over all edges (below the memory budget)."""
    t = read_dir(edges_dir, ["src", "dst"])
    src = t.column("src").to_numpy() if t is not None else np.zeros(0, np.int64)
    dst = t.column("dst").to_numpy() if t is not None else np.zeros(0, np.int64)
    nodes, labels = union_find_components(src, dst)
    write_ranges_local({"node": nodes, "label": labels}, ranges, COMPONENT_SCHEMA, out_dir)


def distributed_components(edges_dir: Path, out_dir: Path, parts: int, ranges: NodeRanges, r: DedupeRun,
                           max_rounds: int = 100) -> int:
    """Large-star / small-star on Ray Data until the edge set stops changing; writes (node, label) (`r`: the run's
    watchdog over the groupings)."""
    import ray.data

    execute = r.execute
    ds = ray.data.read_parquet(str(edges_dir)).map_batches(r.task(kernels.both_ways), fn_kwargs={"parts": parts},
                                                           batch_format="numpy", **RAY_TASK_RETRIES)
    prev = None
    for rnd in range(1, max_rounds + 1):
        for kind in ("large", "small"):
            ds = ds.groupby("part", num_partitions=parts).map_groups(
                r.task(kernels.star_round), fn_kwargs={"kind": kind, "parts": parts}, batch_format="numpy",
                **RAY_TASK_RETRIES)
        ds = execute(ds)
        # A round's output multiset is a function of its input set, so equal fingerprints in two consecutive
        # rounds mean the edge set reached its fixed point (the star forest).
        fps = execute(ds.map_batches(r.task(kernels.fingerprint), batch_size=None, batch_format="numpy"),
                      lambda d: d.take_all())
        cur = (sum(int(r["n"]) for r in fps), sum((int(r["hi"]) << 32) + int(r["lo"]) for r in fps) % (1 << 64))
        if cur == prev:
            write_ranges_ray(ds.groupby("part", num_partitions=parts).map_groups(
                r.task(kernels.labels), batch_format="numpy", **RAY_TASK_RETRIES), ranges, COMPONENT_SCHEMA, out_dir,
                r)
            return rnd
        prev = cur
    raise RuntimeError(f"distributed components did not converge in {max_rounds} rounds")
