"""The per-partition kernels of the dedupe stage: plain numpy functions over column batches, no I/O, no Ray.

The stage (`pipeline/stages/dedupe.py`) runs them either on one in-memory partition (local executor) or on the
hash partitions of a Ray Data grouping; the output is the same either way because every kernel's result depends
only on the rows of its (band, bucket) groups or clusters, which a partition always holds whole.
"""
from __future__ import annotations

import numpy as np

from filters.dedupe import DedupeConfig, doc_keys, verify_edges
from filters.dedupe.components import cluster_decisions, edge_fingerprint, large_star, small_star, star_labels
from filters.dedupe.lsh import bucket_edges, unique_edges
from filters.hashing import MIX, hash_partition


def signature_columns(node0: int, ids: list, texts: list, quality: np.ndarray | None, urls: list | None,
                      cfg: DedupeConfig) -> dict[str, np.ndarray | list]:
    """Signature rows of one batch: node id, id, exact key, has-shingles flag, quality, band hashes b0..b{B-1}
    (and the sorted unique shingle hashes with `verify`)."""
    k = doc_keys(texts, cfg, urls)
    n = len(texts)
    out = {"node": np.arange(node0, node0 + n, dtype=np.int64), "id": [str(x) for x in ids], "exact": k.exact,
           "valid": k.has_shingles,
           "quality": np.full(n, np.nan) if quality is None else np.asarray(quality, np.float64)}
    for b in range(k.bands.shape[1]):
        out[f"b{b}"] = np.ascontiguousarray(k.bands[:, b])
    if cfg.verify:
        out["shingles"] = [np.unique(k.shingle_hashes[k.offsets[i]:k.offsets[i + 1]]) for i in range(n)]
    return out


def band_rows(batch: dict, bands: int, parts: int, exact: bool, near: bool, verify: bool,
              span: tuple[int, int] = (-1, 1 << 30)) -> dict:
    """Explode signature rows into (band, bucket, node[, shingles]) rows with their hash partition (band -1 holds
    the exact key); only the bands in `span` = [lo, hi) (a grouping of some of the bands)."""
    node = batch["node"].astype(np.int64)
    bnd, bkt, nd, sh = [], [], [], []
    lo, hi = span
    if exact and lo <= -1 < hi:
        bnd.append(np.full(len(node), -1, np.int16))
        bkt.append(batch["exact"].astype(np.uint64))
        nd.append(node)
        if verify:
            sh.append(np.arange(len(node)))
    if near:
        valid = batch["valid"].astype(bool)
        for b in range(max(lo, 0), min(hi, bands)):
            bnd.append(np.full(int(valid.sum()), b, np.int16))
            bkt.append(batch[f"b{b}"].astype(np.uint64)[valid])
            nd.append(node[valid])
            if verify:
                sh.append(np.flatnonzero(valid))
    bucket = np.concatenate(bkt) if bkt else np.zeros(0, np.uint64)
    band = np.concatenate(bnd) if bnd else np.zeros(0, np.int16)
    out = {"band": band, "bucket": bucket, "node": np.concatenate(nd) if nd else np.zeros(0, np.int64),
           "part": hash_partition(bucket ^ (band.astype(np.uint64) * MIX), parts)}
    if verify:
        shingles = batch["shingles"]  # index rows carry empty lists: their edges are not verified
        idx = np.concatenate(sh) if sh else np.zeros(0, np.int64)
        out["shingles"] = np.array([shingles[i] for i in idx] + [None], dtype=object)[:-1]
    return out


def partition_edges(group: dict, threshold: float | None) -> dict:
    """Star edges of every (band, bucket) group in one partition (verified by exact Jaccard when `threshold`)."""
    band, bucket, node = group["band"], group["bucket"].astype(np.uint64), group["node"].astype(np.int64)
    key = bucket ^ (band.astype(np.int64).astype(np.uint64) * MIX)
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


def both_ways(batch: dict, parts: int) -> dict:
    """Each edge in both directions, partitioned on its source (the input of a star round)."""
    s, d = batch["src"].astype(np.int64), batch["dst"].astype(np.int64)
    src, dst = np.concatenate([s, d]), np.concatenate([d, s])
    return {"src": src, "dst": dst, "part": hash_partition(src, parts)}


def star_round(group: dict, kind: str, parts: int) -> dict:
    """One large-star or small-star step over edges grouped by source."""
    s, d = (large_star if kind == "large" else small_star)(group["src"], group["dst"])
    return {"src": s, "dst": d, "part": hash_partition(s, parts)}


def fingerprint(batch: dict) -> dict:
    """(count, hash sum) of one block's edge multiset, the sum split in two 32-bit halves."""
    n, fp = edge_fingerprint(batch["src"].astype(np.int64), batch["dst"].astype(np.int64))
    return {"n": np.array([n], np.int64), "lo": np.array([fp & 0xFFFFFFFF], np.int64),
            "hi": np.array([fp >> 32], np.int64)}


def labels(group: dict) -> dict:
    nodes, lab = star_labels(group["src"], group["dst"])
    return {"node": nodes, "label": lab}


def keepers(group: dict, use_quality: bool) -> dict:
    """Decide every member of the clusters in one partition (the keeper rule of `cluster_decisions`)."""
    old = group["old"].astype(bool)
    dec = cluster_decisions(group["label"], group["id"], group["exact"],
                            group["quality"] if use_quality else None, old if old.any() else None)
    return {"node": group["node"], "cluster_id": group["label"], "keep": dec["keep"],
            "duplicate_of": dec["duplicate_of"], "reason": dec["reason"], "cluster_size": dec["cluster_size"]}
