"""Connected components (union-find == large/small-star) and the keeper rule."""
from __future__ import annotations

import numpy as np
import pytest

from filters.dedupe.components import (UnionFind, choose_keepers, cluster_decisions, large_star, small_star,
                                       star_components, star_labels, union_find_components)


def random_graph(rng: np.random.Generator, n: int, m: int, spread: int = 1):
    s, d = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = s != d
    return s[keep] * spread - 5, d[keep] * spread - 5  # arbitrary ids, some negative (indexed docs)


def reference_components(src, dst):
    """Plain BFS labelling: smallest node of each component."""
    adj: dict[int, set[int]] = {}
    for a, b in zip(src.tolist(), dst.tolist()):
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    label = {}
    for start in sorted(adj):
        if start in label:
            continue
        comp, todo = [], [start]
        label[start] = start
        while todo:
            x = todo.pop()
            comp.append(x)
            for y in adj[x]:
                if y not in label:
                    label[y] = start
                    todo.append(y)
    nodes = np.array(sorted(label), dtype=np.int64)
    return nodes, np.array([label[x] for x in nodes.tolist()], dtype=np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_union_find_equals_star_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    for n, m, spread in [(10, 5, 1), (200, 150, 3), (1000, 1200, 7), (300, 2000, 1), (5000, 3000, 11)]:
        s, d = random_graph(rng, n, m, spread)
        ref = reference_components(s, d)
        uf = union_find_components(s, d)
        st = star_components(s, d)
        for got in (uf, st):
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_array_equal(got[1], ref[1])


def test_long_path_and_empty():
    # a path is the slowest case for label propagation; star rounds still converge
    n = 2000
    perm = np.random.default_rng(0).permutation(n)
    s, d = perm[:-1], perm[1:]
    nodes, labels = star_components(s, d)
    assert (labels == perm.min()).all() and len(nodes) == n
    e = np.zeros(0, np.int64)
    for f in (union_find_components, star_components):
        nodes, labels = f(e, e)
        assert len(nodes) == 0 and len(labels) == 0


def test_star_kernels_are_partition_local():
    """Running a kernel per hash partition of `src` gives the same edges as on everything at once."""
    rng = np.random.default_rng(3)
    s, d = random_graph(rng, 300, 400)
    s, d = np.concatenate([s, d]), np.concatenate([d, s])
    for kernel in (large_star, small_star):
        whole = set(zip(*[x.tolist() for x in kernel(s, d)]))
        parts = set()
        for p in range(4):
            m = (s % 4) == p
            parts |= set(zip(*[x.tolist() for x in kernel(s[m], d[m])]))
        assert whole == parts
    # a converged star: every node points at the minimum
    nodes, labels = star_labels(np.array([5, 7, 3, 3]), np.array([3, 3, 5, 7]))
    assert nodes.tolist() == [3, 5, 7] and labels.tolist() == [3, 3, 3]


def test_union_find_roots_are_minimum():
    uf = UnionFind()
    uf.union(9, 4)
    uf.union(4, 12)
    uf.union(30, 2)
    uf.union(12, 30)
    assert {uf.find(x) for x in (9, 4, 12, 30, 2)} == {2}


def test_keeper_rule():
    labels = np.array([0, 0, 0, 5, 5, 9])
    ids = np.array(["doc10", "doc09", "doc2", "b", "a", "z"], dtype=object)
    # no quality: smallest id in string order ("doc09" < "doc10" < "doc2")
    assert choose_keepers(labels, ids).tolist() == [False, True, False, False, True, True]
    # quality: highest score wins, ties by smallest id, NaN lowest
    q = np.array([0.9, 0.1, 0.9, np.nan, np.nan, 0.0])
    assert choose_keepers(labels, ids, q).tolist() == [True, False, False, False, True, True]
    q2 = np.array([0.1, 0.2, 0.3, np.nan, 0.5, 0.0])
    assert choose_keepers(labels, ids, q2).tolist() == [False, False, True, False, True, True]
    # old (indexed) documents win regardless of id
    old = np.array([False, False, False, False, False, False])
    old[3] = True
    assert choose_keepers(labels, ids, None, old).tolist() == [False, True, False, True, False, True]


def test_cluster_decisions_reasons():
    labels = np.array([1, 1, 1, 4, 4])
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    exact = np.array([7, 7, 8, 3, 3], dtype=np.uint64)
    dec = cluster_decisions(labels, ids, exact)
    assert dec["keep"].tolist() == [True, False, False, True, False]
    assert dec["reason"].tolist() == [None, "exact_duplicate", "near_duplicate", None, "exact_duplicate"]
    assert dec["duplicate_of"].tolist() == [None, "a", "a", None, "d"]
    assert dec["cluster_size"].tolist() == [3, 3, 3, 2, 2]
    old = np.array([False, False, True, False, False])
    dec = cluster_decisions(labels, ids, exact, None, old)
    assert dec["keep"].tolist() == [False, False, True, True, False]
    assert dec["duplicate_of"].tolist() == ["c", "c", None, None, "d"]
