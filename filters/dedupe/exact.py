"""Exact dedupe key: a 64-bit hash of the normalised text (and optionally the URL)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xxhash

from filters.dedupe.normalize import normalize_batch


def exact_hashes(texts: Sequence[str], urls: Sequence[str | None] | None = None,
                 normalized: Sequence[str] | None = None) -> np.ndarray:
    """xxh3-64 of `normalize_text(text)` (joined with ``"\\x00" + url`` when `urls` is given): uint64 per text."""
    norm = normalize_batch(texts) if normalized is None else normalized
    h = xxhash.xxh3_64_intdigest
    if urls is None:
        return np.fromiter((h(t.encode("utf-8")) for t in norm), dtype=np.uint64, count=len(norm))
    if len(urls) != len(norm):
        raise ValueError(f"{len(urls)} urls for {len(norm)} texts")
    return np.fromiter((h(f"{t}\x00{u or ''}".encode("utf-8")) for t, u in zip(norm, urls)), dtype=np.uint64,
                       count=len(norm))
