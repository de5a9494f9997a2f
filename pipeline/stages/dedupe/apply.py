"""Step 5, apply: one task per shard writes its kept rows (input order, every column passed through), its rejects
(`reason`, `duplicate_of`, `cluster_id`), its rows of the index for later runs (`index_out`) and, last, its stats;
it reads only the decision files covering the shard's node range."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.dedupe.index import index_params, index_table
from pipeline.io import write_parquet_atomic
from pipeline.manifest import StageCounts
from pipeline.runner import Layout, map_tasks, shard_stats, write_shard_stats
from pipeline.stages.dedupe.plan import DedupeRun
from pipeline.stages.dedupe.tables import range_files, range_index, read_node_range


def run(r: DedupeRun) -> dict:
    t0 = time.perf_counter()
    lay = r.layout.to_dict()
    decs = range_index(r.work / "decisions")
    params = index_params(r.cfg)
    index_dir = str(r.cfg.index_out) if r.cfg.index_out else None
    todo = [{**p, "layout": lay, "dec_files": range_files(decs, p["offset"], p["offset"] + p["rows"]), "sig": s,
             "params": params, "index_dir": index_dir}
            for p, s in zip(r.shards, r.sig_files) if not r.layout.stats_file(p["name"]).exists()]
    map_tasks(filter_shard, todo, r.env, r.resources, r.label("filter"))
    return r.timing(t0)


def filter_shard(task: dict) -> dict:
    """Kept rows, rejects, optional index rows and (last) stats of one shard."""
    layout = Layout.from_dict(task["layout"])
    path, lo, name = task["path"], int(task["offset"]), task["name"]
    table = pq.read_table(path)
    n = table.num_rows
    dec = read_node_range(task["dec_files"], lo, lo + n,
                          ["node", "keep", "duplicate_of", "reason", "cluster_id", "cluster_size"])
    removed = np.zeros(n, bool)
    hist: dict[int, int] = {}
    rej = None
    if dec is not None and dec.num_rows:
        dec = dec.sort_by("node")
        row = dec.column("node").to_numpy() - lo
        keep = dec.column("keep").to_numpy(zero_copy_only=False)
        removed[row[~keep]] = True
        for s, c in zip(*np.unique(dec.column("cluster_size").to_numpy()[keep], return_counts=True)):
            hist[int(s)] = int(c)
        r = dec.filter(pa.array(~keep))
        take = pa.array(row[~keep])
        rej = pa.table({"id": table.column("id").take(take).cast(pa.string()), "reason": r.column("reason"),
                        "duplicate_of": r.column("duplicate_of"), "cluster_id": r.column("cluster_id")})
        for c in ("url", "source"):
            if c in table.column_names:
                rej = rej.append_column(c, table.column(c).take(take))
    hist[1] = hist.get(1, 0) + int(n - removed.sum() - sum(hist.values()))
    write_parquet_atomic(table.filter(pa.array(~removed)), layout.data / f"{name}.parquet")
    if rej is not None and rej.num_rows:
        write_parquet_atomic(rej, layout.reject_file(name))
    if task.get("index_dir"):
        sig = pq.read_table(task["sig"]).filter(pa.array(~removed))
        params = task["params"]
        bands = np.stack([sig.column(f"b{b}").to_numpy() for b in range(params["bands"])], axis=1) \
            if params["bands"] else np.zeros((sig.num_rows, 0), np.uint64)
        write_parquet_atomic(index_table(sig.column("id").to_pylist(), sig.column("exact").to_numpy(), bands, params),
                             Path(task["index_dir"]) / f"{name}.parquet")
    reasons = rej.column("reason").to_pylist() if rej is not None else []
    counts = StageCounts(n, int(n - removed.sum()), {k: reasons.count(k) for k in sorted(set(reasons))}, 0)
    stats = shard_stats(name, path, counts, extra={"cluster_sizes": {str(k): v for k, v in sorted(hist.items())}})
    write_shard_stats(layout, stats)
    return stats
