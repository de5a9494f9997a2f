"""Text normalisation and word n-gram shingles for dedupe.

Normalisation: Unicode NFKC, lowercase, every run of non-word characters (anything but letters and digits, so
punctuation, whitespace and ``_``) folded to one space, stripped. ASCII texts take an equivalent fast path
(``bytes.translate``); the test suite checks both paths agree.
Shingles: word n-grams joined by one space. A text with fewer than `n` (but at least one) words gives one shingle
made of all its words; an empty text gives no shingles (it is never a near-duplicate of anything).
"""
from __future__ import annotations

import re
import string
import unicodedata
from typing import Sequence

_FOLD = re.compile(r"[\W_]+", re.UNICODE)
_WORD_BYTES = set((string.ascii_letters + string.digits).encode())
_ASCII_TABLE = bytes(c if c in _WORD_BYTES else 32 for c in range(256))


def normalize_slow(text: str) -> str:
    """Reference normalisation (regex), for any text."""
    return _FOLD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def normalize_text(text: str) -> str:
    """NFKC + lowercase + non-word runs folded to single spaces, stripped."""
    if not isinstance(text, str):
        raise TypeError(f"expected str text, got {type(text).__name__}")
    if text.isascii():
        return " ".join(text.lower().encode().translate(_ASCII_TABLE).decode().split())
    return normalize_slow(text)


def normalize_batch(texts: Sequence[str]) -> list[str]:
    """`normalize_text` over a batch; a bad value names its batch position."""
    out = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text at batch position {i} is {type(t).__name__}, expected str")
        out.append(normalize_text(t))
    return out


def words(text: str) -> list[str]:
    """Words of the normalised text."""
    norm = normalize_text(text)
    return norm.split(" ") if norm else []


def shingles(text: str, n: int = 5) -> list[str]:
    """Word n-grams of the normalised text, in order (duplicates kept; MinHash ignores them)."""
    if n < 1:
        raise ValueError(f"ngram must be >= 1, got {n}")
    w = words(text)
    if not w:
        return []
    if len(w) <= n:
        return [" ".join(w)]
    return [" ".join(w[i : i + n]) for i in range(len(w) - n + 1)]


def split_words_arrow(normalized: Sequence[str]):
    """Split a batch of *normalised* texts with pyarrow: (flat words as an Arrow array, words per text int64)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(normalized, type=pa.large_string())
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    lists = pc.split_pattern(arr, " ")
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)
    if empty.any():
        flat = flat.filter(pa.array(np.repeat(~empty, counts)))
        counts[empty] = 0
    return flat, counts
