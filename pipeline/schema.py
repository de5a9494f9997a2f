"""The document record every reader yields and every stage writes."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

import pyarrow as pa

# Columns every stage writes first, in this order; stages add signal columns after them.
DOC_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("date", pa.string()),
    pa.field("source", pa.string()),
]
QUARANTINE_SCHEMA = pa.schema([
    pa.field("file", pa.string()),
    pa.field("offset", pa.int64()),
    pa.field("record_id", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("error", pa.string()),
])
# The column a quality classifier writes and dedupe's keeper rule reads (named once, in filters/quality.py).
from filters.quality import QUALITY_COLUMN  # noqa: E402
BASE_COLUMNS = ["id", "text", "url", "date", "source"]


@dataclass
class Doc:
    """One input document. `html` is set (and `text` empty) until extraction runs."""
    id: str
    text: str = ""
    url: str | None = None
    date: str | None = None
    source: str = ""
    html: bytes | None = None
    charset: str | None = None
    extra: dict = field(default_factory=dict)        # columns carried through from a Parquet input
    extra_types: dict = field(default_factory=dict)  # their Arrow types


@dataclass
class Bad:
    """An unreadable input record: where it was and why. Lands in quarantine/ with a short `reason` code
    (`unreadable`, `malformed_json`, `extraction_timeout`, ...) and the full `error` message."""
    file: str
    offset: int
    error: str
    record_id: str | None = None
    reason: str = "unreadable"

    def __str__(self) -> str:
        rec = f" record {self.record_id}" if self.record_id else ""
        return f"{self.file} @ offset {self.offset}{rec}: {self.error}"


def doc_id(path: str, offset: int | str) -> str:
    """Stable id from the source: ``<file name>:<record offset>`` (file name, not full path, so a moved corpus keeps
    its ids)."""
    return f"{os.path.basename(str(path))}:{offset}"


_STAGE_SHARD = re.compile(r"^[A-Za-z0-9_.-]+-[0-9a-f]{8}\.parquet$")


def shard_name(path: str) -> str:
    """A file-system-safe, collision-free output name for an input file. A shard written by an earlier stage
    (`.../data/<name>-<hash8>.parquet`) keeps its name, so one input file has one name through a whole chain."""
    p = str(path).rstrip("/")
    base = os.path.basename(p)
    if _STAGE_SHARD.match(base) and os.path.basename(os.path.dirname(p)) == "data":
        return base[: -len(".parquet")]
    for suffix in (".gz", ".zst", ".warc", ".wet", ".arc", ".jsonl", ".json", ".parquet", ".txt"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base)[:80]
    return f"{base}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def quarantine_table(rows: list[Bad]) -> pa.Table:
    """Unreadable input records (or a poison shard's file) as rows of a `quarantine/` file."""
    return pa.Table.from_pylist([{"file": b.file, "offset": int(b.offset), "record_id": b.record_id,
                                  "reason": b.reason, "error": b.error} for b in rows], schema=QUARANTINE_SCHEMA)
