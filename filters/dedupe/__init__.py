"""Exact and MinHash near-duplicate detection as a plain-numpy library (no Ray).

Pieces: `normalize` (text folding, word n-gram shingles), `minhash` (datasketch-equal vectorised signatures),
`lsh` (band choice, band hashes, candidate edges), `components` (union-find and large-star/small-star connected
components, keeper rule), `exact` (exact keys), `index` (incremental band-hash index). `dedupe_texts` runs them all
in-process on a list of texts; `pipeline.stages.dedupe` runs the same kernels on Ray Data.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from filters.dedupe.components import (cluster_decisions, choose_keepers, large_star, small_star, star_components,
                                       union_find_components)
from filters.dedupe.config import DedupeConfig
from filters.dedupe.exact import exact_hashes
from filters.dedupe.lsh import band_hashes, bucket_edges, candidate_edges, jaccard, optimal_param, unique_edges
from filters.dedupe.minhash import hash_shingles, signatures, signatures_from_hashes
from filters.dedupe.normalize import normalize_batch, normalize_text, shingles

__all__ = ["DedupeConfig", "DedupeResult", "DocKeys", "dedupe_texts", "doc_keys", "signatures", "optimal_param",
           "band_hashes", "candidate_edges", "union_find_components", "star_components", "large_star", "small_star",
           "choose_keepers", "cluster_decisions", "exact_hashes", "normalize_text", "shingles", "verify_edges"]


class DocKeys(NamedTuple):
    """Per-document dedupe keys of a batch."""

    exact: np.ndarray        # (n,) uint64 exact key
    bands: np.ndarray        # (n, B) uint64 band hashes (rows of docs without shingles are meaningless)
    has_shingles: np.ndarray  # (n,) bool: False for empty texts (never near-duplicates)
    shingle_hashes: np.ndarray  # concatenated shingle hashes (uint32), for --verify
    offsets: np.ndarray      # (n+1,) int64 offsets into shingle_hashes


def doc_keys(texts: Sequence[str], cfg: DedupeConfig, urls: Sequence[str | None] | None = None) -> DocKeys:
    """Exact keys, signatures -> band hashes, for one batch."""
    norm = normalize_batch(texts)
    exact = exact_hashes(texts, urls if cfg.exact_url else None, normalized=norm)
    hashes, offsets = hash_shingles(texts, cfg.ngram, normalized=norm)
    bands, rows = cfg.band_rows()
    sigs = signatures_from_hashes(hashes, offsets, cfg.num_perm, cfg.seed, cfg.scheme)
    return DocKeys(exact, band_hashes(sigs, bands, rows), np.diff(offsets) > 0, hashes, offsets)


def verify_edges(src: np.ndarray, dst: np.ndarray, hashes: np.ndarray, offsets: np.ndarray,
                 threshold: float) -> np.ndarray:
    """Mask of edges whose endpoints' shingle sets have exact Jaccard >= threshold (nodes index `offsets`)."""
    ok = np.zeros(len(src), dtype=bool)
    for i, (a, b) in enumerate(zip(src.tolist(), dst.tolist())):
        ok[i] = jaccard(hashes[offsets[a]:offsets[a + 1]], hashes[offsets[b]:offsets[b + 1]]) >= threshold
    return ok


class DedupeResult(NamedTuple):
    """Per input text: kept?, cluster id (smallest member index; own index for singletons), keeper id, reason."""

    keep: np.ndarray          # bool
    cluster_id: np.ndarray    # int64
    duplicate_of: np.ndarray  # object: keeper's id, None when kept
    reason: np.ndarray        # object: "exact_duplicate" / "near_duplicate" / None


def dedupe_texts(texts: Sequence[str], ids: Sequence[str] | None = None, cfg: DedupeConfig | None = None,
                 quality: Sequence[float] | None = None, urls: Sequence[str | None] | None = None,
                 index=None) -> DedupeResult:
    """Exact + near-duplicate dedupe of `texts` in this process (signatures, LSH, union-find, keeper rule).

    `index`: a table from `filters.dedupe.index.load_index` of an earlier run; texts duplicating an indexed document
    are removed (``duplicate_of`` = its id, ``cluster_id`` = -1 - its row); indexed documents are not returned.
    """
    cfg = cfg or DedupeConfig()
    n = len(texts)
    ids = np.array([str(i) for i in range(n)] if ids is None else list(ids), dtype=object)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} texts")
    keys = doc_keys(texts, cfg, urls)
    nodes = np.arange(n, dtype=np.int64)
    exact, bands = keys.exact, keys.bands
    valid = keys.has_shingles
    old_ids = np.zeros(0, dtype=object)
    if index is not None:
        from filters.dedupe.index import index_bands

        old_ids = np.asarray(index.column("id").to_pylist(), dtype=object)
        m = len(old_ids)
        nodes = np.concatenate([-1 - np.arange(m, dtype=np.int64), nodes])
        exact = np.concatenate([index.column("exact_hash").to_numpy().astype(np.uint64), exact])
        bands = np.concatenate([index_bands(index), bands])
        valid = np.concatenate([np.ones(m, dtype=bool), valid])
    srcs, dsts = [], []
    if cfg.exact:
        s, d = bucket_edges(exact, nodes)
        srcs.append(s)
        dsts.append(d)
    if cfg.near:
        s, d = candidate_edges(bands[valid], nodes[valid])
        if cfg.verify and len(s):
            new = (s >= 0) & (d >= 0)
            ok = np.ones(len(s), dtype=bool)
            ok[new] = verify_edges(s[new], d[new], keys.shingle_hashes, keys.offsets, cfg.threshold)
            s, d = s[ok], d[ok]
        srcs.append(s)
        dsts.append(d)
    src, dst = unique_edges(np.concatenate(srcs), np.concatenate(dsts))
    members, labels = union_find_components(src, dst)
    cluster_id = np.arange(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    dup_of = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    if len(members):
        is_old = members < 0
        pos = np.where(is_old, -1 - members, members + len(old_ids))  # row in the (old + new) arrays
        all_ids = np.concatenate([old_ids, ids])[pos]
        all_exact = exact[pos]
        q = None
        if quality is not None:
            qn = np.asarray(quality, dtype=np.float64)
            q = np.where(is_old, np.nan, qn[np.where(is_old, 0, members)])
        dec = cluster_decisions(labels, all_ids, all_exact, q, is_old if len(old_ids) else None)
        new = ~is_old
        rows = members[new]
        cluster_id[rows] = labels[new]
        keep[rows] = dec["keep"][new]
        dup_of[rows] = dec["duplicate_of"][new]
        reason[rows] = dec["reason"][new]
    return DedupeResult(keep, cluster_id, dup_of, reason)
