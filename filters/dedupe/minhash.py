"""Vectorised MinHash signatures, bit-for-bit equal to `datasketch.MinHash`.

Hash function: `shingle_hash` (32 bits): each word of the shingle is hashed with ``xxhash.xxh32_intdigest`` and the
word hashes are combined with a fixed 64-bit multiply/xor-shift mix (top 32 bits kept). Word hashes are computed once
per word and the n-gram combination is one numpy pass over the batch, so no Python work happens per shingle. The
signatures equal ``datasketch.MinHash(num_perm, seed=seed, hashfunc=shingle_hash, scheme=...)`` updated with
``[s.encode() for s in shingles(text, ngram)]`` (the test suite checks this exactly).

Permutation schemes (datasketch 2.x names):
- ``"affine32"`` (default; datasketch 2.x's default, so ``MinHash(num_perm, seed=, hashfunc=)`` without `scheme`):
  ``h`` pre-mixed with the murmur3 32-bit finaliser, then ``a*h + b mod 2^32``; uint32 values.
- ``"legacy"`` (datasketch's only scheme before 2.0): ``(a*h + b) mod (2^61-1)`` masked to 32 bits, with
  ``a*h`` wrapping modulo 2^64 exactly as datasketch's numpy code does; values stored as uint64.
Permutation parameters come from ``np.random.RandomState(seed)`` in datasketch's order.

A batch is hashed once (one Python call per shingle, no per-permutation Python work); the permutations are applied
with one numpy broadcast per chunk of shingles and reduced per document with ``np.minimum.reduceat``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from filters.hashing import MIX64
import xxhash

from filters.dedupe.normalize import normalize_batch, shingles, split_words_arrow

MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH32 = np.uint64((1 << 32) - 1)
SCHEMES = ("legacy", "affine32")
_CHUNK_CELLS = 1 << 16  # shingles x perms per broadcast chunk (fits L2)

_MIX = MIX64
_M64 = (1 << 64) - 1


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of one shingle (UTF-8 words joined by single spaces): the scalar reference of `hash_shingles`."""
    acc = 0
    for w in shingle.split(b" "):
        acc = ((acc ^ xxhash.xxh32_intdigest(w)) * _MIX) & _M64
        acc ^= acc >> 29
    return acc >> 32


hashfunc = shingle_hash  # the hash function handed to datasketch for equality


@lru_cache(maxsize=32)
def permutations(num_perm: int, seed: int, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) permutation parameters datasketch draws for `num_perm`, `seed` and `scheme`."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array([(gen.randint(1, MERSENNE, dtype=np.uint64), gen.randint(0, MERSENNE, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        a, b = ab[0].copy(), ab[1].copy()
    elif scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    else:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def empty_value(scheme: str):
    """The signature value of a document without shingles (datasketch's initial hash value)."""
    return MAX_HASH32 if scheme == "legacy" else np.uint32(0xFFFFFFFF)


def _combine(word_hashes: np.ndarray, starts: np.ndarray, width: np.ndarray | int) -> np.ndarray:
    """Vectorised `shingle_hash`: combine `width` consecutive word hashes beginning at each of `starts`."""
    acc = np.zeros(len(starts), dtype=np.uint64)
    wmax = int(np.max(width)) if np.ndim(width) else int(width)
    mix, s29 = np.uint64(_MIX), np.uint64(29)
    for j in range(wmax):
        live = slice(None) if not np.ndim(width) else (width > j)
        if np.ndim(width):
            idx = starts[live] + j
            a = acc[live]
            a ^= word_hashes[idx]
            a *= mix
            a ^= a >> s29
            acc[live] = a
        else:
            acc ^= word_hashes[starts + j]
            acc *= mix
            acc ^= acc >> s29
    return (acc >> np.uint64(32)).astype(np.uint32)


def hash_shingles(texts: Sequence[str], ngram: int = 5, normalized: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hash every shingle of every text: (hashes uint32 concatenated, offsets int64 of length n+1).

    Splitting and vocabulary building run in pyarrow compute; one Python call per distinct word of the batch; the
    n-gram combination is vectorised. Pass `normalized` (= `normalize_batch(texts)`) to skip normalising again.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    import pyarrow.compute as pc

    flat, nwords = split_words_arrow(normalize_batch(texts) if normalized is None else normalized)
    enc = pc.dictionary_encode(flat).combine_chunks() if hasattr(flat, "chunks") else pc.dictionary_encode(flat)
    h32 = xxhash.xxh32_intdigest
    vocab = enc.dictionary.to_pylist()
    table = np.fromiter((h32(w.encode("utf-8")) for w in vocab), dtype=np.uint64, count=len(vocab))
    idx = enc.indices.to_numpy(zero_copy_only=False)
    wh = table[idx] if len(idx) else np.zeros(0, dtype=np.uint64)
    word_off = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(nwords, out=word_off[1:])
    # shingles per doc: max(nwords - ngram + 1, 1) for non-empty docs, 0 for empty ones
    counts = np.where(nwords >= ngram, nwords - ngram + 1, np.minimum(nwords, 1))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint32), offsets
    doc_of = np.repeat(np.arange(len(texts)), counts)
    starts = word_off[:-1][doc_of] + (np.arange(total) - offsets[:-1][doc_of])
    short = nwords[doc_of] < ngram
    if not short.any():
        return _combine(wh, starts, ngram), offsets
    width = np.where(short, nwords[doc_of], ngram)
    return _combine(wh, starts, width), offsets


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _permute(h: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: str) -> np.ndarray:
    """Permuted values (len(h), num_perm) for one chunk of shingle hashes."""
    if scheme == "legacy":
        x = np.multiply(h.astype(np.uint64)[:, None], a[None, :])  # wraps mod 2^64 like datasketch
        x += b
        hi = x >> np.uint64(61)
        x &= MERSENNE
        x += hi  # x mod (2^61-1), folded: < 2^61 + 7
        np.subtract(x, MERSENNE, out=x, where=x >= MERSENNE)
        x &= MAX_HASH32
        return x
    x = np.multiply(_fmix32(h)[:, None], a[None, :])
    x += b
    return x


def signatures_from_hashes(hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 112, seed: int = 1,
                           scheme: str = "affine32") -> np.ndarray:
    """MinHash signatures (n, num_perm) from `hash_shingles` output."""
    a, b = permutations(num_perm, seed, scheme)
    n = len(offsets) - 1
    dtype = np.uint64 if scheme == "legacy" else np.uint32
    out = np.full((n, num_perm), empty_value(scheme), dtype=dtype)
    total = int(offsets[-1])
    if total == 0:
        return out
    chunk = max(1, _CHUNK_CELLS // num_perm)
    starts = offsets[:-1]
    lo = 0
    while lo < total:
        hi = min(total, lo + chunk)
        # documents overlapping [lo, hi): those with start < hi and end > lo
        d0 = int(np.searchsorted(offsets, lo, side="right")) - 1
        d1 = int(np.searchsorted(offsets, hi, side="left"))
        docs = np.arange(d0, d1)
        docs = docs[offsets[docs + 1] > offsets[docs]]  # non-empty only
        seg = np.maximum(starts[docs], lo) - lo
        vals = _permute(hashes[lo:hi], a, b, scheme)
        red = np.minimum.reduceat(vals, seg, axis=0)
        np.minimum(out[docs], red, out=red)
        out[docs] = red
        lo = hi
    return out


def signatures(texts: Sequence[str], num_perm: int = 112, ngram: int = 5, seed: int = 1,
               scheme: str = "affine32") -> np.ndarray:
    """MinHash signatures of `texts`: (n, num_perm), uint64 for "legacy", uint32 for "affine32"."""
    hashes, offsets = hash_shingles(texts, ngram)
    return signatures_from_hashes(hashes, offsets, num_perm, seed, scheme)


def datasketch_minhash(text: str, num_perm: int = 112, ngram: int = 5, seed: int = 1, scheme: str = "affine32"):
    """The equivalent `datasketch.MinHash` of one text (reference implementation, slow)."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=hashfunc, scheme=scheme)
    sh = shingles(text, ngram)
    if sh:
        m.update_batch([s.encode("utf-8") for s in sh])
    return m
