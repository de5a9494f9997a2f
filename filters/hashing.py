"""The 64-bit constants and mixers every hashing kernel shares (one place for them)."""
from __future__ import annotations

import numpy as np

MIX64 = 0x9E3779B97F4A7C15  # 64-bit golden-ratio multiplier (Fibonacci hashing, splitmix64's increment)
M2 = 0xBF58476D1CE4E5B9     # splitmix64 / murmur3 fmix64 multipliers
M3 = 0x94D049BB133111EB
MIX = np.uint64(MIX64)


def hash_partition(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition index in [0, parts) of int64/uint64 keys (multiplicative hash, high bits folded in)."""
    x = np.asarray(keys).astype(np.uint64) * MIX
    x ^= x >> np.uint64(29)
    return (x % np.uint64(parts)).astype(np.int64)
