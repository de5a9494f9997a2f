"""Parquet files, read in row batches (local or fsspec URL). A file with zero rows holds zero documents (stages
write such shards when every document was removed); columns other than id/text/url/date are carried along in
`Doc.extra` with their Arrow types, so a later stage passes them through."""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq

from pipeline.io import open_binary
from pipeline.readers.jsonl import record_to_doc
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc

OWN = ("source",)  # rewritten by the reader: the input path


def read_parquet(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    row = 0
    try:
        with open_binary(path) as fh:
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
            fields = {options.text_field, options.id_field, options.url_field, options.date_field} - {None}
            used = {f.split(".")[0] for f in fields}
            passthrough = [n for n in schema.names if n not in used and n not in OWN] if options.keep_columns else []
            for batch in pf.iter_batches(batch_size=1024):
                for obj in batch.to_pylist():
                    doc = record_to_doc(obj, path, row, options)
                    if isinstance(doc, Doc) and passthrough:
                        doc.extra = {k: obj.get(k) for k in passthrough}
                        doc.extra_types = {k: schema.field(k).type for k in passthrough}
                    yield doc
                    row += 1
    except Exception as e:
        yield Bad(path, row, f"unreadable from row {row} ({type(e).__name__}: {e})")
