"""Step 1, signatures: one task per shard writes its exact keys and MinHash band hashes (`filters.dedupe.kernels`)
to `work/dedupe/sigs/<shard>.parquet`; a shard whose file exists is not redone."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.dedupe import kernels
from filters.dedupe.config import DedupeConfig
from filters.dedupe.index import index_bands
from pipeline.io import write_parquet_atomic
from pipeline.runner import map_tasks
from pipeline.schema import QUALITY_COLUMN
from pipeline.stages.dedupe.plan import DedupeRun


def run(r: DedupeRun) -> dict:
    t0 = time.perf_counter()
    todo = [{"path": p["path"], "offset": p["offset"], "out": s, "cfg": r.cfg.model_dump_json()}
            for p, s in zip(r.shards, r.sig_files) if not Path(s).exists()]
    r.say(f"signatures: {len(r.shards) - len(todo)}/{len(r.shards)} shards cached, {len(todo)} to do")
    map_tasks(signature_shard, todo, r.env, r.resources, r.label("signatures"))
    return r.timing(t0)


def signature_shard(task: dict) -> int:
    """Exact keys + band hashes of one shard -> its signature file; returns the row count."""
    cfg = DedupeConfig.model_validate_json(task["cfg"])
    pf = pq.ParquetFile(task["path"])
    names = pf.schema_arrow.names
    has_q, use_url = QUALITY_COLUMN in names, cfg.exact_url and "url" in names
    cols = ["id", "text"] + ([QUALITY_COLUMN] if has_q else []) + (["url"] if use_url else [])
    parts, row = [], 0
    for batch in pf.iter_batches(batch_size=cfg.batch_size, columns=cols):
        q = batch.column(QUALITY_COLUMN).to_numpy(zero_copy_only=False) if has_q else None
        c = kernels.signature_columns(int(task["offset"]) + row, batch.column("id").to_pylist(),
                                      batch.column("text").to_pylist(), q,
                                      batch.column("url").to_pylist() if use_url else None, cfg)
        parts.append(_sig_table(c, cfg))
        row += batch.num_rows
    bands, _ = cfg.band_rows()
    table = pa.concat_tables(parts) if parts else _sig_table(_empty_sig(bands, cfg.verify), cfg)
    write_parquet_atomic(table, Path(task["out"]))
    return row


def _sig_table(c: dict, cfg: DedupeConfig) -> pa.Table:
    cols = {"node": pa.array(c["node"], pa.int64()), "id": pa.array(c["id"], pa.string()),
            "exact": pa.array(c["exact"], pa.uint64()), "valid": pa.array(c["valid"], pa.bool_()),
            "quality": pa.array(c["quality"], pa.float64())}
    for k in sorted((k for k in c if k.startswith("b") and k[1:].isdigit()), key=lambda k: int(k[1:])):
        cols[k] = pa.array(c[k], pa.uint64())
    if cfg.verify:
        cols["shingles"] = pa.array(c["shingles"], pa.list_(pa.uint32()))
    return pa.table(cols)


def _empty_sig(bands: int, verify: bool) -> dict:
    c = {"node": np.zeros(0, np.int64), "id": [], "exact": np.zeros(0, np.uint64), "valid": np.zeros(0, bool),
         "quality": np.zeros(0)}
    c.update({f"b{b}": np.zeros(0, np.uint64) for b in range(bands)})
    if verify:
        c["shingles"] = []
    return c


def index_sig_rows(path: str, base: int, bands: int, verify: bool) -> pa.Table:
    """Rows of an earlier run's index file in the signature layout, nodes -1 - (base + row)."""
    t = pq.read_table(path)
    n = t.num_rows
    cols = {"node": pa.array(-1 - (base + np.arange(n, dtype=np.int64))),
            "exact": t.column("exact_hash").cast(pa.uint64()), "valid": pa.array(np.ones(n, bool))}
    b = index_bands(t)
    for i in range(bands):
        cols[f"b{i}"] = pa.array(np.ascontiguousarray(b[:, i]))
    if verify:
        cols["shingles"] = pa.array([[]] * n, pa.list_(pa.uint32()))
    return pa.table(cols)
