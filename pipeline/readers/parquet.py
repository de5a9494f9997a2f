"""Parquet files, read in row batches (local or fsspec URL)."""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq

from pipeline.io import open_binary
from pipeline.readers.jsonl import record_to_doc
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc


def read_parquet(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    row = 0
    try:
        with open_binary(path) as fh:
            pf = pq.ParquetFile(fh)
            names = set(pf.schema_arrow.names)
            wanted = [c for c in (options.text_field, options.id_field, options.url_field, options.date_field)
                      if c and c.split(".")[0] in names]
            wanted = sorted({c.split(".")[0] for c in wanted})
            if pf.metadata.num_rows == 0:
                yield Bad(path, 0, "empty file: no rows")
                return
            for batch in pf.iter_batches(batch_size=1024, columns=wanted or None):
                for obj in batch.to_pylist():
                    yield record_to_doc(obj, path, row, options)
                    row += 1
    except Exception as e:
        yield Bad(path, row, f"unreadable from row {row} ({type(e).__name__}: {e})")
