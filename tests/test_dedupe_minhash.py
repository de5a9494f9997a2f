"""filters.dedupe library: datasketch-equal signatures, banding, exact keys, in-process dedupe, incremental index."""
from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from pydantic import ValidationError

from filters.dedupe import DedupeConfig, dedupe_texts, doc_keys, exact_hashes, optimal_param, signatures
from filters.dedupe.index import index_params, index_table, load_index
from pipeline.io import write_parquet_atomic
from filters.dedupe.lsh import band_hashes, candidate_edges, jaccard
from filters.dedupe.minhash import hash_shingles, shingle_hash
from filters.dedupe.normalize import normalize_slow, normalize_text, shingles, split_words_arrow

VOCAB = [f"w{i}" for i in range(3000)]


def corpus(seed: int = 0, n: int = 60, words: int = 80) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCAB, k=words)) for _ in range(n)]


def mutate(text: str, k: int, rng: random.Random) -> str:
    w = text.split()
    for j in rng.sample(range(len(w)), k):
        w[j] = f"changed{rng.randrange(10**6)}"
    return " ".join(w)


ODD = ["", "   ", "one", "two words", "Hello, World!  It's (nearly) 5 o'clock...", "snake_case and  TABS\tand\nnewlines",
       "ÉCOLE naïve café — Ǆemal ﬁnance", "東京 は 晴れ です", "हिन्दी भाषा १२३ test", "émoji 🙂 ok, ½ ²"]


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("num_perm,ngram,seed", [(112, 5, 1), (64, 3, 42), (13, 1, 7)])
def test_signatures_equal_datasketch(scheme, num_perm, ngram, seed):
    texts = corpus(seed, n=40, words=random.Random(seed).randint(3, 150)) + ODD
    sigs = signatures(texts, num_perm=num_perm, ngram=ngram, seed=seed, scheme=scheme)
    assert sigs.shape == (len(texts), num_perm)
    for t, got in zip(texts, sigs):
        m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme=scheme)
        sh = [s.encode("utf-8") for s in shingles(t, ngram)]
        if sh:
            m.update_batch(sh)
        assert got.dtype == m.hashvalues.dtype
        np.testing.assert_array_equal(got, m.hashvalues, err_msg=repr(t[:40]))


def test_default_scheme_is_datasketch_default():
    t = corpus(3, n=1)[0]
    m = MinHash(num_perm=112, seed=1, hashfunc=shingle_hash)
    m.update_batch([s.encode() for s in shingles(t, 5)])
    np.testing.assert_array_equal(signatures([t])[0], m.hashvalues)


def test_large_batch_crosses_chunks():
    # more shingles than one broadcast chunk, and docs straddling chunk borders
    texts = corpus(5, n=30, words=700)
    sigs = signatures(texts, num_perm=128)
    for i in (0, 13, 29):
        m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
        m.update_batch([s.encode() for s in shingles(texts[i], 5)])
        np.testing.assert_array_equal(sigs[i], m.hashvalues)


def test_normalisation_paths_agree():
    texts = ODD + corpus(1, n=5) + ["Mixed CASE, punctuation!!! and    spaces", "a_b-c.d/e\x00f"]
    for t in texts:
        assert normalize_text(t) == normalize_slow(t), t
    assert normalize_text("Hello,  WORLD!\n") == "hello world"
    flat, counts = split_words_arrow([normalize_text(t) for t in texts])
    assert counts.tolist() == [len(normalize_text(t).split()) for t in texts]
    assert flat.to_pylist() == [w for t in texts for w in normalize_text(t).split()]
    assert shingles("a b c d e f", 5) == ["a b c d e", "b c d e f"]
    assert shingles("a b", 5) == ["a b"]
    assert shingles("  ", 5) == []
    with pytest.raises(TypeError, match="position 1"):
        hash_shingles(["ok", None])


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 112), (0.72, 112), (0.8, 128), (0.9, 64), (0.3, 32)])
def test_optimal_param_matches_datasketch(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_param(threshold, num_perm) == (lsh.b, lsh.r)


def test_config_bands():
    assert DedupeConfig().band_rows() == (14, 8)
    assert DedupeConfig(bands=None, rows=None, threshold=0.8, num_perm=128).band_rows() == optimal_param(0.8, 128)
    with pytest.raises(ValidationError):
        DedupeConfig(bands=20, rows=8)  # 160 > 112 permutations
    with pytest.raises(ValidationError):
        DedupeConfig(unknown_key=1)
    with pytest.raises(ValidationError):
        DedupeConfig(bands=None)


def test_band_hashes_and_candidates():
    texts = corpus(2, n=20)
    texts.append(texts[3])                       # identical signature to 3
    texts.append(mutate(texts[5], 1, random.Random(0)))  # one word changed: Jaccard ~0.9
    sigs = signatures(texts)
    bh = band_hashes(sigs, 14, 8)
    assert bh.shape == (len(texts), 14) and bh.dtype == np.uint64
    assert (bh[3] == bh[20]).all()
    # band equality <=> equal rows of the signature
    eq = (sigs[5].reshape(-1)[:112].reshape(14, 8) == sigs[21][:112].reshape(14, 8)).all(axis=1)
    np.testing.assert_array_equal(bh[5] == bh[21], eq)
    src, dst = candidate_edges(bh)
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert (20, 3) in pairs and (21, 5) in pairs
    assert all(s > d for s, d in pairs)
    assert len(pairs) == 2  # unrelated random docs never collide


def test_jaccard():
    assert jaccard(np.array([1, 2, 3]), np.array([2, 3, 4])) == pytest.approx(0.5)
    assert jaccard(np.array([1, 1]), np.array([1])) == 1.0


def test_exact_hashes():
    h = exact_hashes(["Hello, World", "hello world!", "hello  world", "hello there"])
    assert h[0] == h[1] == h[2] != h[3]
    hu = exact_hashes(["a", "a", "a"], urls=["u1", "u1", "u2"])
    assert hu[0] == hu[1] != hu[2]


def known_dups(seed: int = 0):
    """60 originals, 10 exact copies (case/punctuation changed), 10 near copies (2 of 200 words changed)."""
    rng = random.Random(seed)
    orig = corpus(seed, n=60, words=200)
    texts, ids, truth = [], [], []
    for i, t in enumerate(orig):
        texts.append(t)
        ids.append(f"o{i:03d}")
        truth.append(None)
    for i in range(10):
        texts.append(orig[i].upper() + " !!")
        ids.append(f"e{i:03d}")
        truth.append(("exact_duplicate", i))
    for i in range(10, 20):
        texts.append(mutate(orig[i], 2, rng))
        ids.append(f"n{i:03d}")
        truth.append(("near_duplicate", i))
    return texts, ids, truth


@pytest.mark.parametrize("verify", [False, True])
def test_dedupe_texts_known_duplicates(verify):
    texts, ids, truth = known_dups()
    r = dedupe_texts(texts, ids, DedupeConfig(verify=verify))
    assert r.keep.sum() == 60
    for j, t in enumerate(truth):
        if t is None:
            continue
        reason, orig = t
        # keeper rule: smallest id ("e..."/"n..." < "o..."), so the copy is kept and the original removed
        assert r.keep[j], ids[j]
        assert not r.keep[orig] and r.reason[orig] == reason and r.duplicate_of[orig] == ids[j]
        assert r.cluster_id[orig] == r.cluster_id[j] == min(orig, j)
    assert all(r.reason[j] is None and r.duplicate_of[j] is None for j in np.flatnonzero(r.keep))


def test_dedupe_texts_quality_keeper_and_switches():
    texts, ids, truth = known_dups()
    q = np.array([1.0 if i < 60 else 0.0 for i in range(len(texts))])  # originals score higher
    r = dedupe_texts(texts, ids, DedupeConfig(), quality=q)
    assert r.keep[:60].all() and not r.keep[60:].any()
    assert r.duplicate_of[60] == "o000"
    r_exact = dedupe_texts(texts, ids, DedupeConfig(near=False))
    assert (~r_exact.keep).sum() == 10 and set(r_exact.reason[~r_exact.keep]) == {"exact_duplicate"}
    r_near = dedupe_texts(texts, ids, DedupeConfig(exact=False))
    assert (~r_near.keep).sum() == 20  # exact copies are near-duplicates too
    assert dedupe_texts(["", "", "x"]).keep.tolist() == [True, False, True]  # empty texts: exact only


def test_verify_rejects_low_jaccard_candidates():
    # with 1 band x 1 row every pair sharing the min-hash is a candidate; verification must drop most
    texts = corpus(9, n=40, words=20)
    cfg = DedupeConfig(bands=1, rows=1, num_perm=8, ngram=1, exact=False)
    loose = dedupe_texts(texts, cfg=cfg)
    strict = dedupe_texts(texts, cfg=cfg.model_copy(update={"verify": True}))
    assert strict.keep.sum() == 40
    assert loose.keep.sum() <= strict.keep.sum()


def test_incremental_index(tmp_path):
    cfg = DedupeConfig()
    old = corpus(11, n=50)
    old_ids = [f"old{i}" for i in range(50)]
    k = doc_keys(old, cfg)
    write_parquet_atomic(index_table(old_ids, k.exact, k.bands, index_params(cfg)), tmp_path / "idx.parquet")
    rng = random.Random(1)
    new = corpus(12, n=20) + [old[0], mutate(old[1], 2, rng), old[2].upper()]
    new_ids = [f"new{i}" for i in range(len(new))]
    idx = load_index(tmp_path / "idx.parquet", index_params(cfg))
    r = dedupe_texts(new, new_ids, cfg, index=idx)
    assert r.keep[:20].all()
    assert not r.keep[20:].any()
    assert r.duplicate_of[20:].tolist() == ["old0", "old1", "old2"]
    assert r.reason[20:].tolist() == ["exact_duplicate", "near_duplicate", "exact_duplicate"]
    assert (r.cluster_id[20:] < 0).all()
    with pytest.raises(ValueError, match="differ"):
        load_index(tmp_path / "idx.parquet", index_params(DedupeConfig(num_perm=128, bands=16, rows=8)))


def test_throughput_single_core():
    texts = corpus(4, n=2000, words=150)
    import time

    dedupe_texts(texts[:10])
    t = time.perf_counter()
    dedupe_texts(texts)
    rate = len(texts) / (time.perf_counter() - t)
    assert rate > 500, f"{rate:.0f} docs/s"  # loose bound: the CI box is shared; ~3-8k docs/s when idle
