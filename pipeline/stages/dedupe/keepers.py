"""Step 4, keepers: the keeper rule per cluster (highest `quality_score` when the column exists, else smallest
`id`; documents of an earlier run's index always win), written as a node-ranged decision table. The members of a
cluster are joined from each signature source with its component labels (read from the component files covering
its node range only)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from filters.dedupe import kernels
from filters.hashing import hash_partition
from pipeline.runner import RAY_TASK_RETRIES
from pipeline.schema import QUALITY_COLUMN
from pipeline.stages.dedupe.plan import DedupeRun
from pipeline.stages.dedupe.tables import (DECISION_SCHEMA, NodeRanges, range_files, range_index, read_node_range,
                                           rows_in_dir, write_ranges_local, write_ranges_ray)


def run(r: DedupeRun) -> dict:
    t0 = time.perf_counter()
    out, comp_dir = r.work / "decisions", r.work / "components"
    if not out.exists():
        use_quality = any(QUALITY_COLUMN in pq.ParquetFile(p["path"]).schema_arrow.names for p in r.shards)
        sources = [{"path": f, "lo": p["offset"], "hi": p["offset"] + p["rows"], "old": False}
                   for f, p in zip(r.sig_files, r.shards)]
        sources += [{"path": i["path"], "lo": -i["base"] - i["rows"], "hi": -i["base"], "old": True} for i in r.index]
        comps = range_index(comp_dir)
        for src in sources:
            src["comp_files"] = json.dumps(range_files(comps, src["lo"], src["hi"]))
        n_comp = rows_in_dir(comp_dir)
        ranges = NodeRanges(r.node_lo, r.total, n_comp)
        if r.ray and sources:
            keepers_ray(sources, use_quality, max(1, -(-n_comp // r.cfg.shuffle_rows_per_partition)), ranges, out, r)
        else:
            keepers_local(sources, use_quality, ranges, out)
    return r.timing(t0)


def members_of_source(src: dict, parts: int) -> dict:
    """One signature source (a shard's signatures or an earlier index) joined with its component labels (read from
    `src["comp_files"]`, the component files covering its node range, a JSON list)."""
    lo, hi, old = int(src["lo"]), int(src["hi"]), bool(src["old"])
    comp = read_node_range(json.loads(str(src["comp_files"])), lo, hi, ["node", "label"])
    empty = {"node": np.int64, "label": np.int64, "id": object, "exact": np.uint64, "quality": np.float64,
             "old": bool, "part": np.int64}
    if comp is None or comp.num_rows == 0:
        return {k: np.zeros(0, t) for k, t in empty.items()}
    cn, cl = comp.column("node").to_numpy(), comp.column("label").to_numpy()
    if old:
        t = pq.read_table(src["path"], columns=["id", "exact_hash"])
        nodes = np.arange(hi - 1, lo - 1, -1, dtype=np.int64)  # -1 - (base + row)
        ids, exact = np.asarray(t.column("id").to_pylist(), object), t.column("exact_hash").to_numpy()
        quality = np.full(t.num_rows, np.nan)
    else:
        t = pq.read_table(src["path"], columns=["node", "id", "exact", "quality"])
        nodes, ids = t.column("node").to_numpy(), np.asarray(t.column("id").to_pylist(), object)
        exact = t.column("exact").to_numpy()
        quality = t.column("quality").to_numpy(zero_copy_only=False).astype(np.float64)
    order = np.argsort(nodes)
    pos = order[np.searchsorted(nodes, cn, sorter=order)]
    return {"node": cn, "label": cl, "id": ids[pos], "exact": exact[pos], "quality": quality[pos],
            "old": np.full(len(cn), old), "part": hash_partition(cl, parts)}


def _members_batch(batch: dict, parts: int) -> dict:
    outs = [members_of_source({k: batch[k][i] for k in batch}, parts) for i in range(len(batch["path"]))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def keepers_local(sources: list[dict], use_quality: bool, ranges: NodeRanges, out: Path) -> None:
    m = [members_of_source(s, 1) for s in sources]
    group = {k: np.concatenate([x[k] for x in m]) for k in m[0]} if m else None
    d = kernels.keepers(group, use_quality) if group is not None and len(group["node"]) else \
        {f.name: np.zeros(0, f.type.to_pandas_dtype()) for f in DECISION_SCHEMA}
    write_ranges_local(d, ranges, DECISION_SCHEMA, out)


def keepers_ray(sources: list[dict], use_quality: bool, parts: int, ranges: NodeRanges, out: Path,
                r: DedupeRun) -> None:
    import ray.data

    ds = ray.data.from_items(sources, override_num_blocks=len(sources)).map_batches(
        r.task(_members_batch), fn_kwargs={"parts": parts}, batch_size=1, batch_format="numpy", **RAY_TASK_RETRIES)
    ds = ds.groupby("part", num_partitions=parts).map_groups(r.task(kernels.keepers), fn_kwargs={"use_quality": use_quality},
                                                             batch_format="numpy", **RAY_TASK_RETRIES)
    write_ranges_ray(ds, ranges, DECISION_SCHEMA, out, r)
