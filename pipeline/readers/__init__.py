"""Readers: one generator per input format, each yielding `Doc` or `Bad` (never raising on bad records).

Formats by name: WARC/WET/ARC (`.warc[.gz]`, `.wet[.gz]`, `.arc[.gz]`), JSONL (`.jsonl`, `.jsonl.gz`,
`.jsonl.zst`, `.json[.gz]`, `.ndjson`), Parquet (`.parquet`), plain text (`.txt`: one document per file), and a
`datasets` dataset saved with `save_to_disk`. Paths may be local or any fsspec URL. `check_input` is the cheap
whole-file check a stage runs before any work (a text field that exists nowhere is an error, not 0 kept).
"""
from __future__ import annotations

from collections.abc import Iterator

from pipeline.errors import UserError
from pipeline.formats import (ALL_SUFFIXES, ARCHIVE_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES,  # noqa: F401
                              TEXT_SUFFIXES, is_hf_dataset_dir)
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc



def detect_format(path: str) -> str:
    p = str(path).lower()
    if is_hf_dataset_dir(str(path)):
        return "hf_disk"
    if p.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    if p.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if p.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if p.endswith(TEXT_SUFFIXES):
        return "text"
    raise ValueError(f"{path}: unknown input format (expected one of {', '.join(ALL_SUFFIXES)} "
                     "or a `datasets` save_to_disk directory)")


def read_path(path: str, options: ReaderOptions | None = None) -> Iterator[Doc | Bad]:
    """Yield every document (or unreadable record) of one input file."""
    options = options or ReaderOptions()
    try:
        fmt = options.format if options.format != "auto" else detect_format(path)
    except ValueError as e:
        yield Bad(str(path), 0, str(e), reason="unknown_format")
        return
    if fmt == "archive":
        from pipeline.readers.archive import read_archive as reader
    elif fmt == "jsonl":
        from pipeline.readers.jsonl import read_jsonl as reader
    elif fmt == "parquet":
        from pipeline.readers.parquet import read_parquet as reader
    elif fmt == "text":
        from pipeline.readers.text import read_text as reader
    else:
        from pipeline.readers.hf_disk import read_hf_disk as reader
    yield from reader(str(path), options)


def input_fields(path: str, options: ReaderOptions) -> list[str] | None:
    """The field names of a JSONL/Parquet/`datasets` input (from its schema or first record); None for formats
    without fields (archives, text) or when nothing can be read (the reader then quarantines what it finds)."""
    try:
        fmt = options.format if options.format != "auto" else detect_format(path)
    except ValueError:
        return None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            from pipeline.io import open_binary

            with open_binary(path) as fh:
                return pq.ParquetFile(fh).schema_arrow.names
        if fmt == "hf_disk":
            import datasets

            ds = datasets.load_from_disk(path)
            part = next(iter(ds.values())) if isinstance(ds, datasets.DatasetDict) else ds
            return list(part.column_names)
        if fmt == "jsonl":
            from pipeline.readers.jsonl import first_record

            rec = first_record(path)
            return sorted(rec) if isinstance(rec, dict) else None
    except Exception:
        return None
    return None


def check_input(path: str, options: ReaderOptions) -> None:
    """Raise UserError when the configured text field exists nowhere in a structured input."""
    names = input_fields(path, options)
    if names is None:
        return
    top = options.text_field.split(".")[0]
    if top not in names:
        raise UserError(f"{path}: no text field {options.text_field!r} (fields: {', '.join(names[:20])}); "
                        "set --text-field or reader.text_field")
