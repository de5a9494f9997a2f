"""Hash/key/blob dump detector: hand-written positives and negatives."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

import pytest

from filters.base import apply_steps
from filters.blobs import HashDumpConfig, HashDumpFilter, find_blobs, looks_random


def reason(text: str, cfg: HashDumpConfig | None = None):
    f = HashDumpFilter(cfg)
    return f.decide(f.annotate([text]))[0]


def md5s(n: int, seed: int = 0) -> list[str]:
    return [hashlib.md5(f"{seed}:{i}".encode()).hexdigest() for i in range(n)]


POSITIVES = {
    "md5 list": "\n".join(md5s(30)),
    "sha256 with filenames": "\n".join(
        f"{hashlib.sha256(str(i).encode()).hexdigest()}  release-{i}.tar.gz" for i in range(20)
    ),
    "md5 colon pairs": "\n".join(f"user{i}:{h}" for i, h in enumerate(md5s(25, seed=1))),
    "bcrypt": "\n".join(
        f"$2b$12${base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode()[:53].replace('+', '.')}"
        for i in range(15)
    ),
    "sha512crypt": "\n".join(
        f"root{i}:$6$saltsalt{i}${base64.b64encode(hashlib.sha512(str(i).encode()).digest()).decode()[:86]}:19000:0"
        for i in range(10)
    ),
    "uuid list": "\n".join(str(uuid.UUID(int=random.Random(3).getrandbits(128) + i)) for i in range(30)),
    "base64 blob": "data: " + base64.b64encode(bytes(random.Random(4).getrandbits(8) for _ in range(1500))).decode(),
    "api keys": "\n".join(
        f"key_{i} = sk_live_{base64.b64encode(hashlib.sha1(str(i).encode()).digest()).decode()[:24]}"
        for i in range(12)
    ),
}

PROSE = (
    "The committee met on Tuesday to review the budget for next year. After a long discussion, the members "
    "agreed to fund the new library wing and to postpone the renovation of the town hall until the spring. "
    "Several residents spoke in favour of extending the opening hours of the swimming pool during the summer."
)

NEGATIVES = {
    "prose": PROSE,
    "code doc with one commit hash": PROSE
    + "\nThe fix landed in commit 3f2a9c1e7b4d8e6f0a1b2c3d4e5f60718293a4b5 and was released in version 2.4.1. "
    + PROSE,
    "urls with long query strings": PROSE
    + "\nSee https://example.com/download?token=AbC123xYz789QwErTy456UiOp&session=9f8e7d6c5b4a39281706 and "
    "https://cdn.example.org/assets/a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV/file.js for details.",
    "identifiers and paths": PROSE
    + "\nCall getElementByIdAndName or XMLHttpRequestFactory2 from /usr/lib/python3.11/site-packages/foo_bar.",
    "long numbers and dates": PROSE + "\nOrder 12345678901234567890 shipped on 2024-03-04T12:30:00.000000Z.",
    "hyphenated words": PROSE + "\nA state-of-the-art, well-thought-out, once-in-a-lifetime opportunity.",
    "short doc with one digest": "md5: d41d8cd98f00b204e9800998ecf8427e",
}


@pytest.mark.parametrize("name", sorted(POSITIVES))
def test_dumps_are_flagged(name):
    assert reason(POSITIVES[name]) == "hash_dump", (name, find_blobs(POSITIVES[name])[:3])


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_normal_text_is_kept(name):
    assert reason(NEGATIVES[name]) is None, (name, find_blobs(NEGATIVES[name]))


def test_blob_kinds_detected():
    assert find_blobs("id 550e8400-e29b-41d4-a716-446655440000 ok") == ["550e8400-e29b-41d4-a716-446655440000"]
    assert find_blobs("h=0xdeadbeef12345678cafe") == ["0xdeadbeef12345678cafe"]
    assert find_blobs("word deadbeefdeadbeefdeadbeef") == []  # hex letters only: a word, not a digest
    assert find_blobs("visit https://x.org/d41d8cd98f00b204e9800998ecf8427e now") == []  # inside a URL
    assert len(find_blobs("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW")) == 1


def test_looks_random():
    assert looks_random("aGVsbG8gd29ybGQgMTIzNDU2Nzg5MA")
    assert not looks_random("getElementByIdAndName")
    assert not looks_random("internationalization")


def test_signals_and_thresholds():
    f = HashDumpFilter()
    text = PROSE + "\n" + "\n".join(md5s(3))
    cols = f.annotate([text, ""])
    assert cols["hash_dump_blob_count"].tolist() == [3, 0]
    assert cols["hash_dump_blob_chars"][0] == 96
    assert 0 < cols["hash_dump_blob_char_frac"][0] < 0.3
    assert f.decide(cols).tolist() == [None, None]
    strict = HashDumpFilter(HashDumpConfig(max_blob_char_frac=0.1))
    assert strict.decide(cols).tolist() == ["hash_dump", None]


def test_in_chain_semantics():
    cols, reasons, _ = apply_steps([POSITIVES["md5 list"], PROSE], [HashDumpFilter()])
    assert reasons.tolist() == ["hash_dump", None]
    with pytest.raises(Exception):
        HashDumpConfig(max_fraction=0.2)
