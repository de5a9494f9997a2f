"""The dedupe stage: exact + MinHash near-duplicate removal, on this machine or on Ray Data.

Steps (each writes its result atomically under `work/dedupe/` and is reused when present, so a killed run that is
rerun produces the same output):
0. `ingest` (only for inputs that are not Parquet document shards): the shared shard worker reads and extracts
   them into Parquet, with the usual quarantine and `no_text` accounting.
1. `signatures`: one task per shard: exact keys and MinHash band hashes (`filters.dedupe.kernels`).
2. `buckets`: band rows grouped by (band, bucket); star edges member -> smallest member (`--verify`: only pairs
   with exact Jaccard >= threshold).
3. `components`: union-find in this process up to `max_edges_in_memory` edges, else large-star/small-star rounds on
   Ray Data; both label each node with the smallest node of its component.
4. `keepers`: the keeper rule per cluster (highest `quality_score` when the column exists, else smallest `id`;
   documents of an earlier run's index always win).
5. `filter`: one task per shard writes kept rows (input order, every column passed through), rejects (`reason`,
   `duplicate_of`, `cluster_id`) and, last, its stats.
Locally (`executor: local`) steps 2-4 run on one in-memory partition; on Ray they run on hash partitions of a
Ray Data grouping whose map side reads one shard (or one earlier index file) per task, so a worker's memory follows
the shard, the shuffle batch and the partition size, not the corpus. Components and decisions are written as
node-ranged tables (`write_ranges_*`): one file per contiguous range of node ids, sorted by node in small row
groups, so the steps that read them per shard (keepers' member join, filter) read only the file and row groups
covering that shard's rows, not the whole table (which made those steps O(shards x rows)). The kernels are the same,
so the kept set does not depend on the executor or the number of workers or nodes. The driver holds paths, counts,
the edges below the in-memory budget and small aggregates.
Node ids are global row numbers (shard offset + row); `cluster_id` is the smallest node id of the cluster
(negative for clusters anchored on an indexed document of an earlier run).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pydantic import ConfigDict, Field

from filters.dedupe import kernels
from filters.dedupe.components import union_find_components
from filters.dedupe.config import DedupeConfig
from filters.dedupe.index import index_bands, index_params, index_table, load_index
from filters.hashing import hash_partition
from pipeline.errors import UserError
from pipeline.io import write_parquet_atomic
from pipeline.manifest import StageCounts
from pipeline.progress import log
from pipeline.runner import (RAY_TASK_RETRIES, Layout, Resources, map_tasks, run_shards, runtime_scope, shard_stats,
                             sum_counts, sum_steps, write_shard_stats)
from pipeline.schema import QUALITY_COLUMN, shard_name
from pipeline.shard import DocShardWorker
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.base import (DocJob, IngestConfig, StageResult, SubStage, executor_for, finish, plan_inputs,
                                   register_substage)

STAGE = "dedupe"
SORT_SHUFFLE_MAX_DOCS = 200_000  # Ray groupings of more documents use the task-based hash shuffle
SHUFFLE_BATCH_BYTES = 32 << 20   # input one map task of that hash shuffle partitions at a time
MAX_SHUFFLE_PIECES = 1_000_000   # above it the buckets grouping is split by bands (band_spans)
BAND_ROW_BYTES = 26              # band int16 + bucket, node, part 8 bytes each
RANGE_ROWS = 250_000             # about this many rows per file of a node-ranged table
RANGE_ROW_GROUP = 8_192          # rows per row group inside it (what one shard's read skips to)
COMPONENT_SCHEMA = pa.schema([("node", pa.int64()), ("label", pa.int64())])
DECISION_SCHEMA = pa.schema([("node", pa.int64()), ("cluster_id", pa.int64()), ("keep", pa.bool_()),
                             ("duplicate_of", pa.string()), ("reason", pa.string()), ("cluster_size", pa.int64())])


class DedupeJob(DocJob):
    """`assay dedupe` / `python -m jobs.dedupe`."""
    model_config = ConfigDict(extra="forbid")
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)


# ------------------------------------------------------------------------------------------------ planning
def is_doc_shard(path: str, reader) -> bool:
    """A Parquet file dedupe can read directly: `id` and a `text` column without nulls (the reader's default
    fields); anything else goes through the ingest pass."""
    if not str(path).endswith(".parquet") or reader.text_field != "text" or reader.id_field != "id":
        return False
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if "id" not in names or "text" not in names:
        return False
    j = names.index("text")
    for i in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(i)
        st = rg.column(j).statistics
        if rg.num_rows and (st is None or st.null_count is None):
            return pq.read_table(path, columns=["text"]).column("text").null_count == 0
        if rg.num_rows and st.null_count > 0:
            return False
    return True


def estimate_docs(files: list[str]) -> int:
    """Rows of Parquet inputs, ~2 KB per document for the rest (used to choose the executor)."""
    n = 0
    for f in files:
        if str(f).endswith(".parquet"):
            n += pq.ParquetFile(f).metadata.num_rows
        elif os.path.isfile(f):
            n += os.path.getsize(f) // 2000
    return n


def ingest_worker(layout: Layout, cfg: IngestConfig) -> DocShardWorker:
    return DocShardWorker(layout, cfg.reader, list, "annotate", cfg.extraction)


def plan_shards(files: list[str]) -> list[dict]:
    plan, offset = [], 0
    for i, f in enumerate(files):
        n = pq.ParquetFile(f).metadata.num_rows
        plan.append({"i": i, "path": f, "offset": offset, "rows": n, "name": shard_name(f)})
        offset += n
    if len({p["name"] for p in plan}) != len(plan):
        raise UserError("two dedupe inputs map to the same shard name; give distinct files")
    return plan


# ------------------------------------------------------------------------------------------------ step 1
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


# ------------------------------------------------------------------------------------------------ steps 2-4
def _read_dir(path: Path, columns: list[str] | None = None, filt=None) -> pa.Table | None:
    files = sorted(str(p) for p in Path(path).glob("*.parquet"))
    if not files:
        return None
    return pads.dataset(files, format="parquet").to_table(columns=columns, filter=filt)


def _rows_in_dir(path: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in Path(path).glob("*.parquet"))


def _write_table_dir(table: pa.Table, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_parquet_atomic(table, tmp / "part-00000.parquet")
    os.replace(tmp, final)


def _write_ds_dir(datasets: Iterable, final: Path) -> None:
    """Ray datasets (executed one after another) as one folder of Parquet files, in place at once."""
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)  # an empty dataset writes nothing
    for i, ds in enumerate(datasets):
        ds.write_parquet(str(tmp / f"{i}"))
        for f in sorted((tmp / f"{i}").glob("*.parquet")):
            os.replace(f, tmp / f"{i}-{f.name}")
        shutil.rmtree(tmp / f"{i}", ignore_errors=True)
    os.replace(tmp, final)


def _np(t: pa.Table) -> dict:
    return {c: (t.column(c).to_numpy(zero_copy_only=False) if c != "shingles" else
                np.array(t.column(c).to_pylist() + [None], dtype=object)[:-1]) for c in t.column_names}


# ------------------------------------------------------------------------------------------------ node-ranged tables
class NodeRanges:
    """Contiguous ranges of node ids [lo, hi) split into `n` equal parts: a table written by range (one sorted file
    per part) lets a reader of one shard's nodes open only the part(s) its range falls in."""

    def __init__(self, lo: int, hi: int, rows: int):
        self.lo, self.hi = int(lo), max(int(hi), int(lo) + 1)
        self.n = max(1, -(-int(rows) // RANGE_ROWS))

    def of(self, nodes: np.ndarray) -> np.ndarray:
        span = self.hi - self.lo
        return np.clip((np.asarray(nodes, np.int64) - self.lo) * self.n // span, 0, self.n - 1)


def _add_range(batch: dict, ranges: NodeRanges) -> dict:
    return {**batch, "_range": ranges.of(batch["node"])}


def _write_range(group: dict, out: str, schema: pa.Schema) -> dict:
    """One part of a node-ranged table (all rows of one `_range`), sorted by node, to out/range-NNNNNN.parquet."""
    order = np.argsort(group["node"], kind="stable")
    table = pa.table({f.name: pa.array(group[f.name][order], f.type) for f in schema}, schema=schema)
    part = int(group["_range"][0]) if len(order) else -1
    write_parquet_atomic(table, Path(out) / f"range-{part:06d}.parquet", RANGE_ROW_GROUP)
    return {"part": np.array([part], np.int64), "rows": np.array([len(order)], np.int64)}


def write_ranges_local(cols: dict, ranges: NodeRanges, schema: pa.Schema, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    part = ranges.of(cols["node"])
    for r in np.unique(part):
        sel = part == r
        _write_range({**{k: np.asarray(v)[sel] for k, v in cols.items()}, "_range": part[sel]}, str(tmp), schema)
    os.replace(tmp, final)


def write_ranges_ray(ds, ranges: NodeRanges, schema: pa.Schema, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ds = ds.map_batches(_add_range, fn_kwargs={"ranges": ranges}, batch_format="numpy", **RAY_TASK_RETRIES)
    ds.groupby("_range", num_partitions=ranges.n).map_groups(
        _write_range, fn_kwargs={"out": str(tmp), "schema": schema}, batch_format="numpy",
        **RAY_TASK_RETRIES).materialize()
    os.replace(tmp, final)


def range_index(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(min node, max node, path) of each file of a node-ranged table, from the footers (read once, by the
    driver), in node order. Files cover disjoint ranges, so both arrays are sorted."""
    rows = []
    for p in sorted(Path(folder).glob("*.parquet")):
        md = pq.ParquetFile(p).metadata
        if md.num_rows == 0:
            continue
        col = md.schema.to_arrow_schema().get_field_index("node")
        st = [md.row_group(i).column(col).statistics for i in range(md.num_row_groups)]
        rows.append((min(s.min for s in st), max(s.max for s in st), str(p)))
    rows.sort()
    return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64), [r[2] for r in rows])


def range_files(index: tuple[np.ndarray, np.ndarray, list[str]], lo: int, hi: int) -> list[str]:
    """The files of a node-ranged table that can hold nodes in [lo, hi)."""
    mins, maxs, paths = index
    return paths[int(np.searchsorted(maxs, lo, "left")):int(np.searchsorted(mins, hi, "left"))]


def read_node_range(files: list[str], lo: int, hi: int, columns: list[str]) -> pa.Table | None:
    """Rows with lo <= node < hi of the given files of a node-ranged table (row groups outside skipped)."""
    if not files:
        return None
    return pads.dataset(files, format="parquet").to_table(
        columns=columns, filter=(pads.field("node") >= lo) & (pads.field("node") < hi))


def source_band_rows(src: dict, cfg: DedupeConfig, parts: int, span: tuple[int, int] = (-1, 1 << 30)) -> dict:
    """The (band, bucket, node[, shingles], part) rows of one signature source: a shard's signature file, or an
    earlier run's index file (`src["index"]`, nodes -1 - (base + row)). One source per task on Ray, so a task's
    memory follows the shard, not the corpus."""
    bands, _ = cfg.band_rows()
    if src["index"]:
        t = index_sig_rows(str(src["path"]), int(src["base"]), bands, cfg.verify)
    else:
        t = pq.read_table(str(src["path"]), columns=["node", "exact", "valid"] + [f"b{b}" for b in range(bands)]
                          + (["shingles"] if cfg.verify else []))
    return kernels.band_rows(_np(t), bands, parts, cfg.exact, cfg.near, cfg.verify, span)


def edges_local(sources: list[dict], cfg: DedupeConfig, out: Path) -> None:
    rows = [source_band_rows(s, cfg, 1) for s in sources]
    if rows:
        group = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
        e = kernels.partition_edges(group, cfg.threshold if cfg.verify else None)
    else:
        e = {"src": np.zeros(0, np.int64), "dst": np.zeros(0, np.int64)}
    _write_table_dir(pa.table({"src": pa.array(e["src"], pa.int64()), "dst": pa.array(e["dst"], pa.int64())}), out)


def band_spans(cfg: DedupeConfig, docs: int, split: bool = True) -> list[tuple[int, int, int]]:
    """How the buckets grouping is split on Ray: [(band lo, band hi, partitions)], band -1 the exact key. One
    grouping unless its shuffle would have more than MAX_SHUFFLE_PIECES pieces (map batches x partitions, which
    grows with the square of the corpus: ~3e8 for the 700M documents a 1B-page crawl keeps, with the defaults);
    then g groupings of about 1/g of the bands each have ~1/g^2 of the pieces. Bands are independent, so the edges
    are the same."""
    bands, _ = cfg.band_rows()
    slots = list(range(-1 if cfg.exact else 0, bands if cfg.near else 0))
    rows = docs * len(slots)
    batches = max(1, rows * BAND_ROW_BYTES // SHUFFLE_BATCH_BYTES)
    parts = max(1, -(-rows // cfg.shuffle_rows_per_partition))
    g = max(1, min(len(slots), math.ceil(math.sqrt(batches * parts / MAX_SHUFFLE_PIECES)))) if split else 1
    spans = [c for c in np.array_split(np.array(slots), g) if len(c)] or [np.array([0])]
    return [(int(c[0]), int(c[-1]) + 1, max(1, -(-docs * len(c) // cfg.shuffle_rows_per_partition))) for c in spans]


def edges_ray(sources: list[dict], cfg: DedupeConfig, spans: list[tuple[int, int, int]], out: Path) -> None:
    """The buckets grouping on Ray Data, one grouping per band span, all edges into `out`."""
    import ray.data

    def grouping(lo: int, hi: int, parts: int):
        ds = ray.data.from_items(sources, override_num_blocks=len(sources)).map_batches(
            _band_rows_batch, fn_kwargs={"cfg": cfg, "parts": parts, "span": (lo, hi)}, batch_size=1,
            batch_format="numpy", **RAY_TASK_RETRIES)
        return ds.groupby("part", num_partitions=parts).map_groups(
            kernels.partition_edges, fn_kwargs={"threshold": cfg.threshold if cfg.verify else None},
            batch_format="numpy", **RAY_TASK_RETRIES)

    _write_ds_dir((grouping(*span) for span in spans), out)


def _band_rows_batch(batch: dict, cfg: DedupeConfig, parts: int, span: tuple[int, int]) -> dict:
    return source_band_rows({k: batch[k][0] for k in batch}, cfg, parts, span)


def memory_components(edges_dir: Path, out_dir: Path, ranges: NodeRanges) -> None:
    """Union-find in this process over all edges (below the memory budget)."""
    t = _read_dir(edges_dir, ["src", "dst"])
    src = t.column("src").to_numpy() if t is not None else np.zeros(0, np.int64)
    dst = t.column("dst").to_numpy() if t is not None else np.zeros(0, np.int64)
    nodes, labels = union_find_components(src, dst)
    write_ranges_local({"node": nodes, "label": labels}, ranges, COMPONENT_SCHEMA, out_dir)


def distributed_components(edges_dir: Path, out_dir: Path, parts: int, ranges: NodeRanges,
                           max_rounds: int = 100) -> int:
    """Large-star / small-star on Ray Data until the edge set stops changing; writes (node, label)."""
    import ray.data

    ds = ray.data.read_parquet(str(edges_dir)).map_batches(kernels.both_ways, fn_kwargs={"parts": parts},
                                                           batch_format="numpy", **RAY_TASK_RETRIES)
    prev = None
    for rnd in range(1, max_rounds + 1):
        for kind in ("large", "small"):
            ds = ds.groupby("part", num_partitions=parts).map_groups(
                kernels.star_round, fn_kwargs={"kind": kind, "parts": parts}, batch_format="numpy",
                **RAY_TASK_RETRIES)
        ds = ds.materialize()
        # A round's output multiset is a function of its input set, so equal fingerprints in two consecutive
        # rounds mean the edge set reached its fixed point (the star forest).
        fps = ds.map_batches(kernels.fingerprint, batch_size=None, batch_format="numpy").take_all()
        cur = (sum(int(r["n"]) for r in fps), sum((int(r["hi"]) << 32) + int(r["lo"]) for r in fps) % (1 << 64))
        if cur == prev:
            write_ranges_ray(ds.groupby("part", num_partitions=parts).map_groups(
                kernels.labels, batch_format="numpy", **RAY_TASK_RETRIES), ranges, COMPONENT_SCHEMA, out_dir)
            return rnd
        prev = cur
    raise RuntimeError(f"distributed components did not converge in {max_rounds} rounds")


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


def keepers_ray(sources: list[dict], use_quality: bool, parts: int, ranges: NodeRanges, out: Path) -> None:
    import ray.data

    ds = ray.data.from_items(sources, override_num_blocks=len(sources)).map_batches(
        _members_batch, fn_kwargs={"parts": parts}, batch_size=1, batch_format="numpy", **RAY_TASK_RETRIES)
    ds = ds.groupby("part", num_partitions=parts).map_groups(kernels.keepers, fn_kwargs={"use_quality": use_quality},
                                                             batch_format="numpy", **RAY_TASK_RETRIES)
    write_ranges_ray(ds, ranges, DECISION_SCHEMA, out)


# ------------------------------------------------------------------------------------------------ step 5
def filter_shard(task: dict) -> dict:
    """Kept rows, rejects, optional index rows and (last) stats of one shard."""
    layout = Layout(**{k: Path(v) if k not in ("stage", "prefix") else v for k, v in task["layout"].items()})
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


# ------------------------------------------------------------------------------------------------ the stage
def dedupe_stage(files: list[str], layout: Layout, cfg: DedupeConfig, ingest: IngestConfig, resources: Resources,
                 executor: str, progress: bool) -> StageResult:
    """Dedupe as a (sub-)stage over planned input files."""
    t_all = time.perf_counter()
    direct = [f for f in files if is_doc_shard(f, ingest.reader)]
    other = [f for f in files if f not in set(direct)]
    ing = None
    if other:
        il = Layout(layout.root, f"{layout.stage}-ingest", layout.work / "ingest" / "data", layout.rejects,
                    layout.quarantine, layout.root / "stats" / f"{layout.stage}-ingest", layout.work / "ingest",
                    layout.work / "ingest" / "manifest.json", f"{layout.prefix}ingest-")
        stats = run_shards(other, il, functools.partial(ingest_worker, il, ingest), resources, executor, progress,
                           f"{layout.stage}: ingest")
        ing = StageResult("ingest", sum_counts(stats), sum_steps(stats))
        direct += [str(il.data / f"{s['shard']}.parquet") for s in stats]
    plan = plan_shards(direct)
    work = layout.work
    work.mkdir(parents=True, exist_ok=True)
    bands, rows = cfg.band_rows()
    params = index_params(cfg)
    total = sum(p["rows"] for p in plan)
    steps: dict[str, dict] = {}
    say = (lambda m: log(m, stage=layout.stage)) if progress else (lambda m: None)
    if executor == "ray":
        from ray.data import DataContext
        from ray.data.context import ShuffleStrategy

        # The groupings (buckets, components, keepers). Small jobs: the task-based sort shuffle (starts fast). Large
        # ones: Ray Data's task-based hash shuffle (SHUFFLE_V2): shuffle pieces live in the object store (spilled to
        # disk when it fills), a map task partitions at most SHUFFLE_BATCH_BYTES of input, a reduce task holds one
        # partition of at most `shuffle_rows_per_partition` rows, so a worker's memory is bounded by these constants,
        # not by the corpus. Not the sort shuffle above 200k documents (it grew the driver by 1.4 GB at 1M), nor the
        # actor-based hash shuffle (its aggregators keep every partition in their heap until the end):
        # benchmarks/RESULTS.md, "Scale (issue 11)".
        ctx = DataContext.get_current()
        if total <= SORT_SHUFFLE_MAX_DOCS:
            ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        else:
            ctx.shuffle_strategy = ShuffleStrategy.SHUFFLE_V2
            ctx.shuffle_input_batch_bytes = SHUFFLE_BATCH_BYTES

    # 1. signatures
    t0 = time.perf_counter()
    sig_dir = work / "sigs"
    sig_files = [str(sig_dir / f"{p['name']}.parquet") for p in plan]
    todo = [{"path": p["path"], "offset": p["offset"], "out": s, "cfg": cfg.model_dump_json()}
            for p, s in zip(plan, sig_files) if not Path(s).exists()]
    say(f"signatures: {len(plan) - len(todo)}/{len(plan)} shards cached, {len(todo)} to do")
    map_tasks(signature_shard, todo, executor, resources, progress, f"{layout.stage}: signatures")
    steps["signatures"] = {"wall_s": time.perf_counter() - t0, "docs": total}
    use_quality = any(QUALITY_COLUMN in pq.ParquetFile(p["path"]).schema_arrow.names for p in plan)

    index, base = [], 0
    if cfg.index_in:
        load_index(cfg.index_in, params)  # checks the parameters
        ip = Path(cfg.index_in)
        for f in (sorted(str(p) for p in ip.glob("*.parquet")) if ip.is_dir() else [str(ip)]):
            index.append({"path": f, "base": base})
            base += pq.ParquetFile(f).metadata.num_rows

    # 2. buckets -> edges
    t0 = time.perf_counter()
    edges_dir = work / "edges"
    # one grouping of all bands, except a Ray job so large that its shuffle would have too many pieces
    spans = band_spans(cfg, total + base, split=executor == "ray" and total > SORT_SHUFFLE_MAX_DOCS)
    if not edges_dir.exists():
        sources = [{"path": f, "index": False, "base": 0} for f in sig_files] + \
            [{"path": i["path"], "index": True, "base": i["base"]} for i in index]
        if executor == "ray" and plan:
            edges_ray(sources, cfg, spans, edges_dir)
        else:
            edges_local(sources, cfg, edges_dir)
    n_edges = _rows_in_dir(edges_dir)
    steps["buckets"] = {"wall_s": time.perf_counter() - t0, "docs": total, "edges": n_edges, "groupings": len(spans)}
    say(f"buckets: {n_edges} candidate edges")

    # 3. components
    t0 = time.perf_counter()
    comp_dir = work / "components"
    algo = "union_find" if n_edges <= cfg.max_edges_in_memory or executor != "ray" else "star"
    rounds = 0
    node_lo = -sum(pq.ParquetFile(i["path"]).metadata.num_rows for i in index)  # an earlier index: negative ids
    if not comp_dir.exists():
        ranges = NodeRanges(node_lo, total, min(2 * n_edges, total - node_lo))
        if algo == "union_find":
            memory_components(edges_dir, comp_dir, ranges)
        else:
            rounds = distributed_components(edges_dir, comp_dir,
                                            max(1, -(-2 * n_edges // cfg.shuffle_rows_per_partition)), ranges)
    steps["components"] = {"wall_s": time.perf_counter() - t0, "docs": total, "algorithm": algo, "rounds": rounds}
    say(f"components: {algo}")

    # 4. keepers
    t0 = time.perf_counter()
    dec_dir = work / "decisions"
    if not dec_dir.exists():
        sources = [{"path": f, "lo": p["offset"], "hi": p["offset"] + p["rows"], "old": False}
                   for f, p in zip(sig_files, plan)]
        for i in index:
            m = pq.ParquetFile(i["path"]).metadata.num_rows
            sources.append({"path": i["path"], "lo": -i["base"] - m, "hi": -i["base"], "old": True})
        comps = range_index(comp_dir)
        for src in sources:
            src["comp_files"] = json.dumps(range_files(comps, src["lo"], src["hi"]))
        n_comp = _rows_in_dir(comp_dir)
        ranges = NodeRanges(node_lo, total, n_comp)
        if executor == "ray" and sources:
            keepers_ray(sources, use_quality, max(1, -(-n_comp // cfg.shuffle_rows_per_partition)), ranges, dec_dir)
        else:
            keepers_local(sources, use_quality, ranges, dec_dir)
    steps["keepers"] = {"wall_s": time.perf_counter() - t0, "docs": total}

    # 5. filter
    t0 = time.perf_counter()
    lay = {k: str(v) for k, v in layout.__dict__.items()}
    decs = range_index(dec_dir)
    todo = [{**p, "layout": lay, "dec_files": range_files(decs, p["offset"], p["offset"] + p["rows"]), "sig": s,
             "params": params,
             "index_dir": str(cfg.index_out) if cfg.index_out else None}
            for p, s in zip(plan, sig_files) if not layout.stats_file(p["name"]).exists()]
    map_tasks(filter_shard, todo, executor, resources, progress, f"{layout.stage}: filter")
    steps["filter"] = {"wall_s": time.perf_counter() - t0, "docs": total}

    stats = [json.loads(layout.stats_file(p["name"]).read_text()) for p in plan]
    counts = sum_counts(stats)
    hist: dict[int, int] = {}
    for s in stats:
        for k, v in s["extra"]["cluster_sizes"].items():
            hist[int(k)] = hist.get(int(k), 0) + v
    if ing is not None:
        counts = StageCounts(counts.input + ing.counts.input - ing.counts.kept, counts.kept,
                             StageCounts(0, 0, counts.removed).add(StageCounts(0, 0, ing.counts.removed)).removed,
                             counts.quarantined + ing.counts.quarantined)
        steps = {**{f"ingest.{k}": v for k, v in ing.steps.items()}, **steps}
    steps["dedupe_total"] = {"wall_s": time.perf_counter() - t_all, "docs": counts.input}
    extra = {"cluster_size_histogram": {str(k): hist[k] for k in sorted(hist)}, "bands": bands, "rows": rows,
             "edges": n_edges, "components_algorithm": algo, "executor": executor, "shards": len(plan)}
    say(f"done: input={counts.input} kept={counts.kept} removed={counts.removed}")
    return StageResult(STAGE, counts, steps, extra)


@runtime_scope
def run_dedupe(job: DedupeJob, ctx: RunContext) -> dict:
    t0 = time.perf_counter()
    files = plan_inputs(job.inputs, job.ingest.reader)
    prepare_output(job.output, STAGE, semantic_config(job), files, ctx.overwrite)
    layout = Layout.standalone(job.output, STAGE)
    executor = executor_for(job, ctx.address, estimate_docs(files), memory_bound=True)
    result = dedupe_stage(files, layout, job.dedupe, job.ingest, job.resources, executor, ctx.progress)
    return finish(layout, result, job.model_dump(mode="json"), t0)


# Giving --threshold or --num-perm re-derives bands x rows from them (datasketch's optimal_param).
_REDERIVE = (("dedupe.bands", None), ("dedupe.rows", None))

register(StageSpec(
    name=STAGE, job=DedupeJob, run=run_dedupe,
    help="Remove exact and near-duplicate documents (MinHash LSH, FineWeb's 5-gram 14x8 setting by default).",
    output_help="Output directory: data/ (one kept shard per input shard), rejects/, stats/, manifest.json.",
    options=(
        Opt(("--threshold",), "dedupe.threshold", "Jaccard threshold; with it, bands x rows come from "
                                                  "datasketch's optimal_param (default 14x8 ~ 0.72).", float,
            also=_REDERIVE),
        Opt(("--num-perm",), "dedupe.num_perm", "MinHash permutations (default 112); with it, bands x rows come "
                                                "from optimal_param.", int, also=_REDERIVE),
        Opt(("--ngram",), "dedupe.ngram", "Word n-gram size of the shingles (default 5).", int),
        Opt(("--verify",), "dedupe.verify", "Keep only candidate pairs whose exact Jaccard reaches the threshold.",
            flag=True),
        Opt(("--no-exact",), "dedupe.exact", "Skip exact (normalised-text hash) dedupe.", flag=True, value=False),
        Opt(("--no-near",), "dedupe.near", "Skip MinHash near-duplicate dedupe.", flag=True, value=False),
        Opt(("--max-edges-in-memory",), "dedupe.max_edges_in_memory", "Edge budget for in-process union-find; "
                                                                       "above it components run distributed on Ray.",
            int),
        Opt(("--text-field",), "ingest.reader.text_field", "Text field/column of JSONL/Parquet inputs "
                                                           "(default text)."),
    ),
))


def _dedupe_sub(files, layout, cfg: DedupeConfig, resources, executor, progress) -> StageResult:
    return dedupe_stage(files, layout, cfg, IngestConfig(), resources, executor, progress)


register_substage(SubStage(STAGE, DedupeConfig, _dedupe_sub, memory_bound=True))
