"""The dedupe stage on Ray Data: exact + MinHash near-duplicate removal over Parquet document shards.

Steps (each writes its result atomically under ``out_dir/work/`` and is reused when present, so a killed job that is
rerun produces the same output):

1. ``signatures``: one Ray task per input shard (``map_batches`` over shard descriptors; the driver passes paths) reads
   the shard, computes exact keys and MinHash band hashes (`filters.dedupe`) and writes ``work/sigs/NNNNN.parquet``.
   Tasks are retried when a worker dies.
2. ``buckets``: band rows ``(band, bucket, node)`` (band -1 = exact key) are hash-partitioned on the bucket and grouped
   (``groupby(part).map_groups``); each partition emits star edges member -> smallest member of each equal
   ``(band, bucket)`` group (with ``verify``: only candidate pairs with exact Jaccard >= threshold).
3. ``components``: union-find in the driver when the edge count is <= ``cfg.max_edges_in_memory`` (about 40 bytes per
   edge), else large-star / small-star rounds on Ray Data (`filters.dedupe.components`), both labelling each node with
   the smallest node of its component.
4. ``keepers``: members joined with their ids/keys per shard, grouped by component; the keeper rule
   (`filters.dedupe.components.cluster_decisions`): highest ``quality_score`` if that column exists, else smallest
   ``id``; indexed documents of an earlier run always win.
5. ``filter``: one task per input shard writes ``data/NNNNN_<name>.parquet`` (kept rows, input order),
   ``rejects/NNNNN_<name>.parquet`` (``id``, ``reason``, ``duplicate_of``, ``cluster_id``) and, last,
   ``stats/dedupe/NNNNN_<name>.json``.

Node ids are global row numbers (shard offset + row); ``cluster_id`` is the smallest node id of the cluster (negative
for clusters anchored on an indexed document of an earlier run). The driver only holds shard paths, counts,
edges below the in-memory budget, and small aggregates.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from filters.dedupe import doc_keys, verify_edges
from filters.dedupe.components import (cluster_decisions, edge_fingerprint, large_star, small_star, star_labels,
                                       union_find_components)
from filters.dedupe.config import DedupeConfig
from filters.dedupe.index import index_bands, index_params, index_table, load_index
from filters.dedupe.lsh import bucket_edges, unique_edges
from pipeline.io import expand_inputs, write_json_atomic, write_parquet_atomic
from pipeline.manifest import StageCounts, write_manifest

STAGE = "dedupe"
REMOTE = {"max_retries": 4, "retry_exceptions": False}  # system failures (a dead worker) are retried
_MIX = np.uint64(0x9E3779B97F4A7C15)


# ---------------------------------------------------------------------------------------------------------- helpers
def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[dedupe] {msg}", file=sys.stderr, flush=True)


def _part(keys: np.ndarray, parts: int) -> np.ndarray:
    """Hash partition of int64/uint64 keys."""
    x = np.asarray(keys).astype(np.uint64) * _MIX
    x ^= x >> np.uint64(29)
    return (x % np.uint64(parts)).astype(np.int64)


def _write_dir_atomic(ds, final: Path) -> None:
    """Write a Ray Dataset as Parquet into `final` (a directory) via a temp dir and a rename."""
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.write_parquet(str(tmp))
    tmp.mkdir(parents=True, exist_ok=True)  # an empty dataset writes nothing
    os.replace(tmp, final)


def _read_dir(path: Path, columns: list[str] | None = None, filt=None) -> pa.Table:
    files = sorted(str(p) for p in Path(path).glob("*.parquet"))
    if not files:
        return None
    return pads.dataset(files, format="parquet").to_table(columns=columns, filter=filt)


def _rows_in_dir(path: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in Path(path).glob("*.parquet"))


def _shard_name(i: int, path: str) -> str:
    stem = Path(path).name.split(".")[0] or "shard"
    return f"{i:05d}_{stem}"


# ------------------------------------------------------------------------------------------------------ step 1: sigs
def signature_shard(desc: dict, cfg: DedupeConfig, out: str) -> int:
    """Compute exact keys + band hashes of one input shard and write them to `out`; returns the row count."""
    path, offset = desc["path"], int(desc["offset"])
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    has_q, has_url = "quality_score" in names, "url" in names
    cols = ["id", "text"] + (["quality_score"] if has_q else []) + (["url"] if has_url and cfg.exact_url else [])
    parts, row = [], 0
    for batch in pf.iter_batches(batch_size=cfg.batch_size, columns=cols):
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist()
        for j, t in enumerate(texts):
            if not isinstance(t, str):
                raise ValueError(f"{path}: record {row + j} (id={ids[j]!r}) has no text ({type(t).__name__})")
        urls = batch.column("url").to_pylist() if "url" in cols else None
        k = doc_keys(texts, cfg, urls)
        n = len(texts)
        t = {"node": pa.array(np.arange(offset + row, offset + row + n, dtype=np.int64)),
             "id": pa.array([str(x) for x in ids], pa.string()),
             "exact": pa.array(k.exact), "valid": pa.array(k.has_shingles),
             "quality": (pa.array(batch.column("quality_score").to_numpy(zero_copy_only=False), pa.float64())
                         if has_q else pa.nulls(n, pa.float64()))}
        for b in range(k.bands.shape[1]):
            t[f"b{b}"] = pa.array(np.ascontiguousarray(k.bands[:, b]))
        if cfg.verify:
            t["shingles"] = pa.array([np.unique(k.shingle_hashes[k.offsets[i]:k.offsets[i + 1]]) for i in range(n)],
                                     pa.list_(pa.uint32()))
        parts.append(pa.table(t))
        row += n
    if not parts:
        raise ValueError(f"{path}: empty shard")
    write_parquet_atomic(pa.concat_tables(parts), Path(out))
    return row


def _sig_batch(batch: dict, cfg: DedupeConfig, crash_marker: str | None) -> dict:
    if crash_marker and not os.path.exists(crash_marker):  # fault injection for the worker-kill test
        Path(crash_marker).write_text(str(os.getpid()))
        os._exit(1)
    rows = [signature_shard({"path": p, "offset": o}, cfg, out)
            for p, o, out in zip(batch["path"], batch["offset"], batch["out"])]
    return {"shard": batch["shard"], "rows": np.asarray(rows, dtype=np.int64)}


# --------------------------------------------------------------------------------------------------- step 2: edges
def band_rows(batch: dict, bands: int, parts: int, exact: bool, near: bool, verify: bool) -> dict:
    """Explode signature rows into (band, bucket, node[, shingles]) rows with their hash partition."""
    node = batch["node"].astype(np.int64)
    bnd, bkt, nd, sh = [], [], [], []
    if exact:
        bnd.append(np.full(len(node), -1, np.int16))
        bkt.append(batch["exact"].astype(np.uint64))
        nd.append(node)
        if verify:
            sh.append(np.arange(len(node)))
    if near:
        valid = batch["valid"].astype(bool)
        for b in range(bands):
            bnd.append(np.full(int(valid.sum()), b, np.int16))
            bkt.append(batch[f"b{b}"].astype(np.uint64)[valid])
            nd.append(node[valid])
            if verify:
                sh.append(np.flatnonzero(valid))
    bucket = np.concatenate(bkt) if bkt else np.zeros(0, np.uint64)
    band = np.concatenate(bnd) if bnd else np.zeros(0, np.int16)
    out = {"band": band, "bucket": bucket, "node": np.concatenate(nd) if nd else np.zeros(0, np.int64),
           "part": _part(bucket ^ (band.astype(np.uint64) * _MIX), parts)}
    if verify:
        shingles = batch["shingles"]  # index rows carry empty lists: their edges are not verified
        idx = np.concatenate(sh) if sh else np.zeros(0, np.int64)
        out["shingles"] = np.array([shingles[i] for i in idx] + [None], dtype=object)[:-1]
    return out


def partition_edges(group: dict, threshold: float | None) -> dict:
    """Kernel: star edges of every (band, bucket) group in one partition (verified when `threshold` is set)."""
    band, bucket, node = group["band"], group["bucket"].astype(np.uint64), group["node"].astype(np.int64)
    key = bucket ^ (band.astype(np.int64).astype(np.uint64) * _MIX)
    src, dst = bucket_edges(key, node)
    if threshold is not None and len(src):
        sh = group["shingles"]
        # one row per node suffices for the shingle lookup (equal nodes carry equal shingles)
        order = np.argsort(node, kind="stable")
        uniq, first = np.unique(node[order], return_index=True)
        rows = order[first]
        sets = [np.asarray(sh[r], dtype=np.uint32) for r in rows]
        lens = np.array([len(s) for s in sets], dtype=np.int64)
        offsets = np.zeros(len(sets) + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        flat = np.concatenate(sets) if sets else np.zeros(0, np.uint32)
        a, b = np.searchsorted(uniq, src), np.searchsorted(uniq, dst)
        exact_band = np.zeros(len(src), bool)  # edges from the exact band need no check
        ex_src, ex_dst = bucket_edges(bucket[band == -1], node[band == -1])
        if len(ex_src):
            ex = set(zip(ex_src.tolist(), ex_dst.tolist()))
            exact_band = np.array([(s, d) in ex for s, d in zip(src.tolist(), dst.tolist())], dtype=bool)
        both = (lens[a] > 0) & (lens[b] > 0) & ~exact_band
        ok = np.ones(len(src), bool)
        ok[both] = verify_edges(a[both], b[both], flat, offsets, threshold)
        src, dst = src[ok], dst[ok]
    src, dst = unique_edges(src, dst)
    return {"src": src, "dst": dst}


# ---------------------------------------------------------------------------------------------- step 3: components
def _star_kernel(kind: str, parts: int):
    def kernel(group: dict) -> dict:
        s, d = (large_star if kind == "large" else small_star)(group["src"], group["dst"])
        return {"src": s, "dst": d, "part": _part(s, parts)}

    return kernel


def _fingerprint_batch(batch: dict) -> dict:
    """(count, hash sum) of one block's edge multiset, the sum split in two 32-bit halves."""
    n, fp = edge_fingerprint(batch["src"].astype(np.int64), batch["dst"].astype(np.int64))
    return {"n": np.array([n], np.int64), "lo": np.array([fp & 0xFFFFFFFF], np.int64),
            "hi": np.array([fp >> 32], np.int64)}


def _labels_kernel(group: dict) -> dict:
    nodes, labels = star_labels(group["src"], group["dst"])
    return {"node": nodes, "label": labels}


def _both_ways_part(batch: dict, parts: int) -> dict:
    s, d = batch["src"].astype(np.int64), batch["dst"].astype(np.int64)
    src, dst = np.concatenate([s, d]), np.concatenate([d, s])
    return {"src": src, "dst": dst, "part": _part(src, parts)}


def distributed_components(edges_dir: Path, out_dir: Path, parts: int, max_rounds: int = 100) -> int:
    """Large-star / small-star on Ray Data until the edge set stops changing; writes (node, label) to `out_dir`."""
    import ray.data

    ds = ray.data.read_parquet(str(edges_dir)).map_batches(_both_ways_part, fn_kwargs={"parts": parts},
                                                           batch_format="numpy", **REMOTE)
    prev = None
    for rnd in range(1, max_rounds + 1):
        ds = ds.groupby("part", num_partitions=parts).map_groups(_star_kernel("large", parts), batch_format="numpy", **REMOTE)
        ds = ds.groupby("part", num_partitions=parts).map_groups(_star_kernel("small", parts), batch_format="numpy", **REMOTE)
        ds = ds.materialize()
        # The round's output multiset is a function of its input set, so equal multiset fingerprints in two
        # consecutive rounds mean the edge set reached its fixed point (the star forest).
        fps = ds.map_batches(_fingerprint_batch, batch_size=None, batch_format="numpy").take_all()
        cur = (sum(int(r["n"]) for r in fps),
               sum((int(r["hi"]) << 32) + int(r["lo"]) for r in fps) % (1 << 64))
        if cur == prev:
            _write_dir_atomic(ds.groupby("part", num_partitions=parts).map_groups(_labels_kernel, batch_format="numpy", **REMOTE), out_dir)
            return rnd
        prev = cur
    raise RuntimeError(f"distributed components did not converge in {max_rounds} rounds")


def memory_components(edges_dir: Path, out_dir: Path) -> None:
    """Union-find in this process over all edges (below the memory budget)."""
    t = _read_dir(edges_dir, ["src", "dst"])
    src = t.column("src").to_numpy() if t is not None else np.zeros(0, np.int64)
    dst = t.column("dst").to_numpy() if t is not None else np.zeros(0, np.int64)
    nodes, labels = union_find_components(src, dst)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_parquet_atomic(pa.table({"node": pa.array(nodes, pa.int64()), "label": pa.array(labels, pa.int64())}),
                         tmp / "part-00000.parquet")
    os.replace(tmp, out_dir)


# ------------------------------------------------------------------------------------------------- step 4: keepers
def members_of_source(batch: dict, comp_dir: str, parts: int) -> dict:
    """Join one signature source (input shard or earlier index) with its component labels."""
    out = {k: [] for k in ("node", "label", "id", "exact", "quality", "old", "part")}
    for path, lo, hi, old in zip(batch["path"], batch["lo"], batch["hi"], batch["old"]):
        filt = (pads.field("node") >= int(lo)) & (pads.field("node") < int(hi))
        comp = _read_dir(Path(comp_dir), ["node", "label"], filt)
        if comp is None or comp.num_rows == 0:
            continue
        cn, cl = comp.column("node").to_numpy(), comp.column("label").to_numpy()
        if old:
            t = pq.read_table(path, columns=["id", "exact_hash"])
            nodes = np.arange(int(hi) - 1, int(lo) - 1, -1, dtype=np.int64)  # -1 - (base + row)
            ids, exact = np.asarray(t.column("id").to_pylist(), object), t.column("exact_hash").to_numpy()
            quality = np.full(t.num_rows, np.nan)
        else:
            t = pq.read_table(path, columns=["node", "id", "exact", "quality"])
            nodes, ids = t.column("node").to_numpy(), np.asarray(t.column("id").to_pylist(), object)
            exact = t.column("exact").to_numpy()
            quality = t.column("quality").to_numpy(zero_copy_only=False).astype(np.float64)
        order = np.argsort(nodes)
        pos = order[np.searchsorted(nodes, cn, sorter=order)]
        out["node"].append(cn)
        out["label"].append(cl)
        out["id"].append(ids[pos])
        out["exact"].append(exact[pos])
        out["quality"].append(quality[pos])
        out["old"].append(np.full(len(cn), bool(old)))
        out["part"].append(_part(cl, parts))
    empty = {"node": np.int64, "label": np.int64, "id": object, "exact": np.uint64, "quality": np.float64,
             "old": bool, "part": np.int64}
    return {k: (np.concatenate(v) if v else np.zeros(0, empty[k])) for k, v in out.items()}


def keeper_kernel(group: dict, use_quality: bool) -> dict:
    """Kernel: decide every member of the clusters in one partition."""
    old = group["old"].astype(bool)
    dec = cluster_decisions(group["label"], group["id"], group["exact"],
                            group["quality"] if use_quality else None, old if old.any() else None)
    return {"node": group["node"], "cluster_id": group["label"], "keep": dec["keep"],
            "duplicate_of": dec["duplicate_of"], "reason": dec["reason"], "cluster_size": dec["cluster_size"]}


# -------------------------------------------------------------------------------------------------- step 5: filter
def filter_shard(desc: dict, dec_dir: str, index_dir: str | None, params: dict) -> dict:
    """Write kept rows, rejects and stats of one input shard; returns its counts."""
    path, lo, name = desc["path"], int(desc["offset"]), desc["name"]
    out = Path(desc["out_dir"])
    table = pq.read_table(path)
    n = table.num_rows
    filt = (pads.field("node") >= lo) & (pads.field("node") < lo + n)
    dec = _read_dir(Path(dec_dir), ["node", "keep", "duplicate_of", "reason", "cluster_id", "cluster_size"], filt)
    removed = np.zeros(n, bool)
    hist: dict[int, int] = {}
    rej = None
    if dec is not None and dec.num_rows:
        dec = dec.sort_by("node")
        row = dec.column("node").to_numpy() - lo
        keep = dec.column("keep").to_numpy(zero_copy_only=False)
        removed[row[~keep]] = True
        sizes = dec.column("cluster_size").to_numpy()[keep]
        for s, c in zip(*np.unique(sizes, return_counts=True)):
            hist[int(s)] = int(c)
        r = dec.filter(pa.array(~keep))
        rej = pa.table({"id": table.column("id").take(pa.array(row[~keep])).cast(pa.string()),
                        "reason": r.column("reason"), "duplicate_of": r.column("duplicate_of"),
                        "cluster_id": r.column("cluster_id")})
        for c in ("url", "source"):
            if c in table.column_names:
                rej = rej.append_column(c, table.column(c).take(pa.array(row[~keep])))
    kept = table.filter(pa.array(~removed))
    singles = int(n - removed.sum() - sum(hist.values()))
    hist[1] = hist.get(1, 0) + singles
    write_parquet_atomic(kept, out / "data" / f"{name}.parquet")
    if rej is None:
        rej = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                        "duplicate_of": pa.array([], pa.string()), "cluster_id": pa.array([], pa.int64())})
    write_parquet_atomic(rej, out / "rejects" / f"dedupe-{name}.parquet")  # rejects/ may be shared
    if index_dir:
        sig = pq.read_table(desc["sig"]).filter(pa.array(~removed))
        bands = np.stack([sig.column(f"b{b}").to_numpy() for b in range(params["bands"])], axis=1) \
            if params["bands"] else np.zeros((sig.num_rows, 0), np.uint64)
        write_parquet_atomic(index_table(sig.column("id").to_pylist(), sig.column("exact").to_numpy(), bands, params),
                             Path(index_dir) / f"{name}.parquet")
    reasons = rej.column("reason").to_pylist()
    stats = {"shard": path, "input": n, "kept": int(n - removed.sum()), "quarantined": 0,
             "removed": {k: reasons.count(k) for k in sorted(set(reasons))}, "cluster_sizes": hist}
    write_json_atomic(stats, out / "stats" / STAGE / f"{name}.json")  # last: marks the shard done
    return stats


def _filter_batch(batch: dict, dec_dir: str, index_dir: str | None, params: dict) -> dict:
    for i in range(len(batch["path"])):
        filter_shard({k: batch[k][i] for k in batch}, dec_dir, index_dir, params)
    return {"name": batch["name"]}


# ----------------------------------------------------------------------------------------------------- the stage
def _plan(inputs: list[str]) -> list[dict]:
    files = [f for f in expand_inputs(inputs) if f.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"no .parquet document shards in {inputs}")
    plan, offset = [], 0
    for i, f in enumerate(files):
        pf = pq.ParquetFile(f)
        missing = {"id", "text"} - set(pf.schema_arrow.names)
        if missing:
            raise ValueError(f"{f}: missing document column(s) {sorted(missing)}")
        n = pf.metadata.num_rows
        plan.append({"shard": i, "path": f, "offset": offset, "rows": n, "name": _shard_name(i, f)})
        offset += n
    return plan


def _check_work(work: Path, fingerprint: dict) -> None:
    """Reuse intermediates only for the same inputs and config."""
    f = work / "plan.json"
    if f.exists():
        old = json.loads(f.read_text())
        if old != json.loads(json.dumps(fingerprint, default=str)):
            raise RuntimeError(f"{work} holds intermediates of a different run (inputs or config changed); "
                               "use a fresh --output directory or delete it")
    else:
        write_json_atomic(fingerprint, f)


def run_dedupe(inputs: list[str], out_dir: Path, cfg: DedupeConfig, address: str | None = None,
               progress: bool = True, _crash_marker: str | None = None) -> dict:
    """Run the dedupe stage; returns the manifest (see module doc for the steps and outputs).

    `_crash_marker` (tests only): the first signature task creates this file and kills its worker process.
    """
    import ray.data

    from pipeline.ray_env import init_ray

    out_dir = Path(out_dir)
    work = out_dir / "work" / STAGE
    work.mkdir(parents=True, exist_ok=True)
    plan = _plan(inputs)
    bands, rows = cfg.band_rows()
    params = index_params(cfg)
    _check_work(work, {"inputs": [(p["path"], p["rows"]) for p in plan], "config": cfg.model_dump()})
    init_ray(address)
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    # task-based sort shuffle: no long-lived aggregator actors, so small groupings start fast
    DataContext.get_current().shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    total = sum(p["rows"] for p in plan)
    steps: dict[str, dict[str, float]] = {}
    use_quality = False

    # 1. signatures
    t0 = time.time()
    sig_dir = work / "sigs"
    todo = [{"shard": p["shard"], "path": p["path"], "offset": p["offset"], "out": str(sig_dir / f"{p['shard']:05d}.parquet")}
            for p in plan if not (sig_dir / f"{p['shard']:05d}.parquet").exists()]
    _log(progress, f"signatures: {len(plan) - len(todo)}/{len(plan)} shards cached, {len(todo)} to do")
    if todo:
        ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
            _sig_batch, fn_kwargs={"cfg": cfg, "crash_marker": _crash_marker}, batch_size=1, batch_format="numpy",
            **REMOTE).take_all()
    sig_files = [str(sig_dir / f"{p['shard']:05d}.parquet") for p in plan]
    use_quality = "quality_score" in pq.ParquetFile(plan[0]["path"]).schema_arrow.names
    steps["signatures"] = {"wall_s": time.time() - t0, "docs": total}

    old_index = None
    if cfg.index_in:
        load_index(cfg.index_in, params)  # checks parameters
        idx_path = Path(cfg.index_in)
        files = sorted(str(p) for p in idx_path.glob("*.parquet")) if idx_path.is_dir() else [str(idx_path)]
        old_index, base = [], 0
        for f in files:
            old_index.append({"path": f, "base": base})
            base += pq.ParquetFile(f).metadata.num_rows

    # 2. buckets -> edges
    t0 = time.time()
    edges_dir = work / "edges"
    n_rows = total * ((bands if cfg.near else 0) + (1 if cfg.exact else 0))
    parts = max(1, -(-n_rows // cfg.shuffle_rows_per_partition))
    if not edges_dir.exists():
        cols = ["node", "exact", "valid"] + [f"b{b}" for b in range(bands)] + (["shingles"] if cfg.verify else [])
        rows_ds = ray.data.read_parquet(sig_files, columns=cols)
        if old_index:
            rows_ds = rows_ds.union(ray.data.from_items(old_index, override_num_blocks=len(old_index)).map_batches(
                index_sig_rows, fn_kwargs={"bands": bands, "verify": cfg.verify}, batch_size=1,
                batch_format="numpy", **REMOTE))
        ds = rows_ds.map_batches(band_rows, fn_kwargs={"bands": bands, "parts": parts, "exact": cfg.exact,
                                                       "near": cfg.near, "verify": cfg.verify},
                                 batch_format="numpy", **REMOTE)
        ds = ds.groupby("part", num_partitions=parts).map_groups(partition_edges, fn_kwargs={"threshold": cfg.threshold if cfg.verify else None},
                                           batch_format="numpy", **REMOTE)
        _write_dir_atomic(ds, edges_dir)
    n_edges = _rows_in_dir(edges_dir)
    steps["buckets"] = {"wall_s": time.time() - t0, "docs": total, "edges": n_edges}
    _log(progress, f"buckets: {n_edges} candidate edges")

    # 3. components
    t0 = time.time()
    comp_dir = work / "components"
    algo = "union_find" if n_edges <= cfg.max_edges_in_memory else "star"
    rounds = 0
    if not comp_dir.exists():
        if algo == "union_find":
            memory_components(edges_dir, comp_dir)
        else:
            rounds = distributed_components(edges_dir, comp_dir, max(1, -(-2 * n_edges // cfg.shuffle_rows_per_partition)))
    steps["components"] = {"wall_s": time.time() - t0, "docs": total, "algorithm": algo, "rounds": rounds}
    _log(progress, f"components: {algo}")

    # 4. keepers
    t0 = time.time()
    dec_dir = work / "decisions"
    if not dec_dir.exists():
        n_members = _rows_in_dir(comp_dir)
        kparts = max(1, -(-n_members // cfg.shuffle_rows_per_partition))
        sources = [{"path": f, "lo": p["offset"], "hi": p["offset"] + p["rows"], "old": False}
                   for f, p in zip(sig_files, plan)]
        for f in old_index or []:
            m = pq.ParquetFile(f["path"]).metadata.num_rows
            sources.append({"path": f["path"], "lo": -f["base"] - m, "hi": -f["base"], "old": True})
        ds = ray.data.from_items(sources, override_num_blocks=len(sources)).map_batches(
            members_of_source, fn_kwargs={"comp_dir": str(comp_dir), "parts": kparts}, batch_size=1,
            batch_format="numpy", **REMOTE)
        ds = ds.groupby("part", num_partitions=kparts).map_groups(keeper_kernel, fn_kwargs={"use_quality": use_quality},
                                           batch_format="numpy", **REMOTE)
        _write_dir_atomic(ds, dec_dir)
    steps["keepers"] = {"wall_s": time.time() - t0, "docs": total}

    # 5. filter
    t0 = time.time()
    index_dir = str(Path(cfg.index_out)) if cfg.index_out else None
    todo = [{**p, "out_dir": str(out_dir), "sig": sig_files[p["shard"]]} for p in plan
            if not (out_dir / "stats" / STAGE / f"{p['name']}.json").exists()]
    if todo:
        ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
            _filter_batch, fn_kwargs={"dec_dir": str(dec_dir), "index_dir": index_dir, "params": params},
            batch_size=1, batch_format="numpy", **REMOTE).take_all()
    steps["filter"] = {"wall_s": time.time() - t0, "docs": total}

    counts, hist = StageCounts(), {}
    for p in plan:
        s = json.loads((out_dir / "stats" / STAGE / f"{p['name']}.json").read_text())
        counts = counts.add(StageCounts(s["input"], s["kept"], s["removed"], s["quarantined"]))
        for k, v in s["cluster_sizes"].items():
            hist[int(k)] = hist.get(int(k), 0) + v
    extra = {"cluster_size_histogram": {str(k): hist[k] for k in sorted(hist)},
             "bands": bands, "rows": rows, "edges": n_edges, "components_algorithm": algo,
             "inputs": [p["path"] for p in plan]}
    manifest = write_manifest(out_dir, STAGE, counts, cfg.model_dump(), steps, extra)
    _log(progress, f"done: input={counts.input} kept={counts.kept} removed={counts.removed}")
    return manifest


def index_sig_rows(batch: dict, bands: int, verify: bool) -> pa.Table:
    """Rows of an earlier run's index file in the signature layout, nodes -1 - (base + row)."""
    tables = []
    for path, base in zip(batch["path"], batch["base"]):
        t = pq.read_table(path)
        n = t.num_rows
        cols = {"node": pa.array(-1 - (int(base) + np.arange(n, dtype=np.int64))),
                "exact": t.column("exact_hash").cast(pa.uint64()), "valid": pa.array(np.ones(n, bool))}
        b = index_bands(t)
        for i in range(bands):
            cols[f"b{i}"] = pa.array(np.ascontiguousarray(b[:, i]))
        if verify:
            cols["shingles"] = pa.array([[]] * n, pa.list_(pa.uint32()))
        tables.append(pa.table(cols))
    return pa.concat_tables(tables)
