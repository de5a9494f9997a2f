"""LSH banding: datasketch-style band/row choice, band hashes, and candidate edges from equal buckets."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from filters.hashing import M2, M3, MIX as _MIX

_M2 = np.uint64(M2)
_M3 = np.uint64(M3)


@lru_cache(maxsize=256)
def optimal_param(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + false negative areas, as `datasketch.MinHashLSH`."""
    from scipy.integrate import quad

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, _ = quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)
            fn, _ = quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)
            err = fp * false_positive_weight + fn * false_negative_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M2
    x = x ^ (x >> np.uint64(27))
    x = x * _M3
    return x ^ (x >> np.uint64(31))


def band_hashes(sigs: np.ndarray, bands: int, rows: int, seed: int = 0) -> np.ndarray:
    """64-bit hash per (doc, band) of the band's `rows` signature values: (n, bands) uint64.

    Two documents share a bucket in band `i` iff their values in that band are equal (up to 64-bit collisions).
    """
    n, p = sigs.shape
    if bands * rows > p:
        raise ValueError(f"bands*rows = {bands}*{rows} exceeds num_perm {p}")
    v = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    acc = np.full((n, bands), np.uint64(seed) * _MIX + np.uint64(rows), dtype=np.uint64)
    for j in range(rows):
        acc = _splitmix((acc ^ v[:, :, j]) * _MIX)
    return acc


def bucket_edges(keys: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Star edges of equal-key groups: each member -> the smallest node of its group (singletons give none).

    `keys` and `nodes` are 1-D, same length (one row per document and band, with the band folded into the key or
    processed band by band). Returns (src, dst) int64 with src > dst.
    """
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((nodes, keys))
    k, nd = keys[order], nodes[order].astype(np.int64)
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    group = np.cumsum(first) - 1
    pivot = nd[first][group]
    m = nd != pivot
    return nd[m], pivot[m]


def candidate_edges(bhashes: np.ndarray, nodes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unique star edges (src > dst) over all bands of `band_hashes` output; `nodes` default 0..n-1."""
    n, b = bhashes.shape
    nodes = np.arange(n, dtype=np.int64) if nodes is None else np.asarray(nodes, dtype=np.int64)
    src, dst = [], []
    for i in range(b):
        s, d = bucket_edges(bhashes[:, i], nodes)
        src.append(s)
        dst.append(d)
    return unique_edges(np.concatenate(src), np.concatenate(dst))


def unique_edges(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicate edges (as given; callers orient them)."""
    if len(src) == 0:
        return src.astype(np.int64), dst.astype(np.int64)
    e = np.unique(np.stack([src, dst], axis=1).astype(np.int64), axis=0)
    return e[:, 0].copy(), e[:, 1].copy()


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sets of shingle hashes."""
    a, b = np.unique(a), np.unique(b)
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
