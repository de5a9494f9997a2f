"""Connected components of the duplicate graph, and the keeper rule.

Two algorithms give identical output: every node that appears in an edge is labelled with the smallest node id of
its component.
- `union_find_components`: in-memory union-find (path halving, union by smaller root); needs all edges in one process.
- `star_components`: Kiveris et al.'s alternating large-star / small-star rounds (“Connected Components in MapReduce
  and Beyond”, SoCC 2014). Each round only needs edges grouped by their first node, so `large_star` and
  `small_star` are the per-partition kernels a distributed engine runs after hash-partitioning edges on `src`
  (see `pipeline/stages/dedupe/`); here they run on one partition holding everything.

Keeper rule (`choose_keepers`): within a cluster the kept document is the one with the highest `quality_score` when
scores are given (ties: smallest id), else the one with the smallest `id` in string order.
"""
from __future__ import annotations

import numpy as np

from filters.hashing import M2, MIX


class UnionFind:
    """Union-find over arbitrary int64 node ids; roots are always the smallest id of the set."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def union_find_components(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels): every node in an edge with the smallest node id of its component; sorted by node."""
    uf = UnionFind()
    for a, b in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
        uf.union(a, b)
    nodes = np.array(sorted(uf.parent), dtype=np.int64)
    labels = np.array([uf.find(x) for x in nodes.tolist()], dtype=np.int64)
    return nodes, labels


def _group_min(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique keys, min of vals per key, and the group index of every input row."""
    uk, inv = np.unique(keys, return_inverse=True)
    mins = np.full(len(uk), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(mins, inv, vals)
    return uk, mins, inv


def large_star(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Large-star kernel over edges grouped by `src` (both directions of every edge present).

    For each node u with neighbours N(u) and m = min(N(u) ∪ {u}): emit (v, m) for every v in N(u) with v > u.
    Output edges are emitted in both directions (ready for the next grouping) and deduplicated.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    if len(src) == 0:
        return src, dst
    _, mins, inv = _group_min(src, dst)
    m = np.minimum(mins[inv], src)
    keep = (dst > src) & (dst != m)
    return _both_ways(dst[keep], m[keep])


def small_star(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Small-star kernel over edges grouped by `src` (both directions of every edge present).

    For each node u with N = {v in N(u): v <= u} ∪ {u} and m = min(N): emit (v, m) for every v in N, v != m.
    Edges to larger neighbours are kept as they are. Output in both directions, deduplicated.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    if len(src) == 0:
        return src, dst
    low = dst < src
    big = np.iinfo(np.int64).max
    _, mins, inv = _group_min(src, np.where(low, dst, big))
    m = np.minimum(mins[inv], src)
    # smaller neighbours and u itself attach to m; larger neighbours keep their edge to u
    a = np.concatenate([dst[low], src, src[~low]])
    b = np.concatenate([m[low], m, dst[~low]])
    keep = a != b
    return _both_ways(a[keep], b[keep])


def _both_ways(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(a) == 0:
        return a.astype(np.int64), b.astype(np.int64)
    e = np.unique(np.stack([np.concatenate([a, b]), np.concatenate([b, a])], axis=1), axis=0)
    return e[:, 0].copy(), e[:, 1].copy()


def edge_fingerprint(src: np.ndarray, dst: np.ndarray) -> tuple[int, int]:
    """(count, order-independent 64-bit sum of edge hashes) of a deduplicated edge set: equal sets, equal prints."""
    if len(src) == 0:
        return 0, 0
    x = np.asarray(src, np.uint64) * MIX ^ np.asarray(dst, np.uint64)
    x ^= x >> np.uint64(31)
    x *= np.uint64(M2)
    x ^= x >> np.uint64(29)
    return len(x), int(x.sum(dtype=np.uint64))


def star_labels(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels) from a converged star graph (both directions): label = min(node, neighbours)."""
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    if len(src) == 0:
        return src, dst
    nodes, mins, _ = _group_min(src, dst)
    return nodes, np.minimum(nodes, mins)


def star_components(src: np.ndarray, dst: np.ndarray, max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Same output as `union_find_components`, by alternating large-star / small-star until nothing changes."""
    s, d = _both_ways(np.asarray(src, np.int64), np.asarray(dst, np.int64))
    s, d = _drop_loops(s, d)
    prev = edge_fingerprint(s, d)
    for _ in range(max_rounds):
        s, d = small_star(*large_star(s, d))
        cur = edge_fingerprint(s, d)
        if cur == prev:
            return star_labels(s, d)
        prev = cur
    raise RuntimeError(f"star_components did not converge in {max_rounds} rounds")


def _drop_loops(s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = s != d
    return s[m], d[m]


def choose_keepers(labels: np.ndarray, ids: np.ndarray, quality: np.ndarray | None = None,
                   is_old: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask: True for the one kept member of each cluster (rows with equal `labels`).

    Rule: highest `quality` (NaN counts as lowest) when given, ties broken by smallest `id` (string order);
    without `quality`, the smallest `id`. In incremental mode (`is_old`), documents of the earlier run win first.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys = [np.asarray(ids, dtype=object).astype(str)]
    if quality is not None:
        q = np.asarray(quality, dtype=np.float64)
        keys.append(np.where(np.isnan(q), np.inf, -q))
    if is_old is not None:
        keys.append(~np.asarray(is_old, dtype=bool))
    keys.append(labels)
    order = np.lexsort(keys)  # by label, then old first, then -quality, then id
    first = np.ones(n, dtype=bool)
    sl = labels[order]
    first[1:] = sl[1:] != sl[:-1]
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    return keep


def cluster_decisions(labels: np.ndarray, ids: np.ndarray, exact: np.ndarray | None = None,
                      quality: np.ndarray | None = None, is_old: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Decide every member of the clusters given (all members of a cluster must be present).

    Returns columns (one per row): ``keep`` (bool), ``duplicate_of`` (the keeper's id, None when kept), ``reason``
    (``exact_duplicate`` when the exact key equals the keeper's, else ``near_duplicate``; None when kept),
    ``cluster_size``. Documents of an earlier run (`is_old`) are always kept.
    """
    labels = np.asarray(labels)
    ids = np.asarray(ids, dtype=object)
    keeper = choose_keepers(labels, ids, quality, is_old)
    uk, inv = np.unique(labels, return_inverse=True)
    keeper_row = np.empty(len(uk), dtype=np.int64)
    keeper_row[inv[keeper]] = np.flatnonzero(keeper)
    k_of = keeper_row[inv]
    keep = keeper.copy() if is_old is None else keeper | np.asarray(is_old, dtype=bool)
    dup_of = np.where(keep, None, ids[k_of])
    if exact is not None:
        exact = np.asarray(exact)
        same = exact == exact[k_of]
    else:
        same = np.zeros(len(labels), dtype=bool)
    reason = np.where(keep, None, np.where(same, "exact_duplicate", "near_duplicate")).astype(object)
    sizes = np.bincount(inv)[inv]
    return {"keep": keep, "duplicate_of": dup_of.astype(object), "reason": reason, "cluster_size": sizes}
