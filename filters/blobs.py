"""Detector for dumps of hashes, keys and encoded blobs (a model should not spend capacity memorising md5 digests).

A "blob" is a long high-entropy token: a hex digest (>= 16 hex digits mixing digits and letters), a UUID, a
crypt(3)/bcrypt/argon2 password hash (``$2b$...``, ``$6$...``), or a base64 / API-key-like run (>= 20 characters of
``[A-Za-z0-9+/_-]`` with letters and digits that switch character class often, unlike words and identifiers).
URLs are ignored. A document is removed when blobs cover a large share of its non-whitespace characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from filters.base import reasons_array

_URL_RE = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)\S+")
_BLOB_RE = re.compile(
    r"""
    (?P<uuid>(?<![0-9A-Za-z])[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?![0-9A-Za-z]))
  | (?P<crypt>\$(?:2[abxy]?|1|5|6|y|gy|7|argon2(?:id|i|d))\$[A-Za-z0-9./$=,+]{16,})
  | (?P<hex>(?<![0-9A-Za-z+/_-])(?:0x)?[0-9a-fA-F]{16,}(?![0-9A-Za-z+/_-]))
  | (?P<b64>(?<![0-9A-Za-z+/_-])[A-Za-z0-9+/_-]{20,}={0,2})
    """,
    re.VERBOSE,
)
_WS_RE = re.compile(r"\s+")


def _char_class(ch: str) -> int:
    if ch.isdigit():
        return 0
    if ch.isupper():
        return 1
    if ch.islower():
        return 2
    return 3


def looks_random(token: str, min_switch_ratio: float = 0.35) -> bool:
    """True if ``token`` has >= 2 letters and >= 2 digits and switches character class often (base64, keys)."""
    n_digits = sum(ch.isdigit() for ch in token)
    n_letters = sum(ch.isalpha() for ch in token)
    if n_digits < 2 or n_letters < 2:
        return False
    classes = [_char_class(ch) for ch in token]
    switches = sum(a != b for a, b in zip(classes, classes[1:]))
    return switches / (len(token) - 1) >= min_switch_ratio


def find_blobs(text: str) -> list[str]:
    """The blob tokens of ``text`` (URLs excluded)."""
    if not text:
        return []
    stripped = _URL_RE.sub(" ", text) if ("://" in text or "www." in text) else text
    out = []
    for m in _BLOB_RE.finditer(stripped):
        kind = m.lastgroup
        tok = m.group()
        if kind == "hex":
            body = tok[2:] if tok.startswith("0x") else tok
            if any(c.isdigit() for c in body) and any(c.isalpha() for c in body):
                out.append(tok)
        elif kind == "b64":
            if looks_random(tok.rstrip("=")):
                out.append(tok)
        else:
            out.append(tok)
    return out


class HashDumpConfig(BaseModel):
    """Thresholds of `HashDumpFilter`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_blob_char_frac: float = 0.3  # remove when blobs cover more than this share of non-whitespace characters
    min_blob_chars: int = 64  # ... and at least this many characters (one short digest in a short doc is fine)


class HashDumpFilter:
    """Removes documents that are mostly hex digests, password hashes, UUIDs, base64 blobs or API keys."""

    name = "hash_dump"

    def __init__(self, config: HashDumpConfig | None = None):
        self.config = config or HashDumpConfig()

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(texts)
        count = np.zeros(n, dtype=np.int64)
        chars = np.zeros(n, dtype=np.int64)
        frac = np.zeros(n, dtype=np.float64)
        for i, t in enumerate(texts):
            blobs = find_blobs(t)
            if not blobs:
                continue
            count[i] = len(blobs)
            chars[i] = sum(map(len, blobs))
            non_ws = len(t) - sum(len(s) for s in _WS_RE.findall(t))
            frac[i] = chars[i] / non_ws if non_ws else 0.0
        p = self.name
        return {f"{p}_blob_count": count, f"{p}_blob_chars": chars, f"{p}_blob_char_frac": frac}

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        c, p = self.config, self.name
        frac = np.asarray(cols[f"{p}_blob_char_frac"])
        reasons = reasons_array(len(frac))
        with np.errstate(invalid="ignore"):
            hit = (frac > c.max_blob_char_frac) & (np.asarray(cols[f"{p}_blob_chars"]) >= c.min_blob_chars)
        reasons[hit] = "hash_dump"
        return reasons
