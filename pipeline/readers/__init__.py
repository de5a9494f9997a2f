"""Readers: one generator per input format, each yielding `Doc` or `Bad` (never raising on bad records).

Formats by name: WARC/WET/ARC (`.warc[.gz]`, `.wet[.gz]`, `.arc[.gz]`), JSONL (`.jsonl`, `.jsonl.gz`,
`.jsonl.zst`, `.json[.gz]`), Parquet (`.parquet`), and a `datasets` dataset saved with `save_to_disk` (a directory
holding `dataset_info.json`). Paths may be local or any fsspec URL.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc", ".arc.gz", ".warc.wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
ALL_SUFFIXES = ARCHIVE_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES


def detect_format(path: str) -> str:
    p = str(path).lower()
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "dataset_info.json")):
        return "hf_disk"
    if p.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    if p.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if p.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"{path}: unknown input format (expected one of {', '.join(ALL_SUFFIXES)} "
                     "or a `datasets` save_to_disk directory)")


def read_path(path: str, options: ReaderOptions | None = None) -> Iterator[Doc | Bad]:
    """Yield every document (or unreadable record) of one input file."""
    options = options or ReaderOptions()
    try:
        fmt = options.format if options.format != "auto" else detect_format(path)
    except ValueError as e:
        yield Bad(str(path), 0, str(e))
        return
    if fmt == "archive":
        from pipeline.readers.archive import read_archive as reader
    elif fmt == "jsonl":
        from pipeline.readers.jsonl import read_jsonl as reader
    elif fmt == "parquet":
        from pipeline.readers.parquet import read_parquet as reader
    else:
        from pipeline.readers.hf_disk import read_hf_disk as reader
    yield from reader(str(path), options)
