"""Parquet files, read column-wise in row batches (local or fsspec URL). A file with zero rows holds zero documents
(stages write such shards when every document was removed); columns other than id/text/url/date are carried along
in `Doc.extra` with their Arrow types, so a later stage passes them through. Dotted fields (`meta.url`) look into
struct columns."""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq

from pipeline.io import open_binary
from pipeline.readers.jsonl import record_to_doc
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc, doc_id

OWN = ("source",)  # rewritten by the reader: the input path


def read_parquet(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    row = 0
    try:
        with open_binary(path) as fh:
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
            fields = [options.text_field, options.id_field, options.url_field, options.date_field, *options.fields]
            flat = all(f is None or "." not in f for f in fields)
            used = {f.split(".")[0] for f in fields if f}
            passthrough = [n for n in schema.names if n not in used and n not in OWN] if options.keep_columns else []
            types = {k: schema.field(k).type for k in passthrough}
            for batch in pf.iter_batches(batch_size=4096):
                if not flat:  # dotted paths: the record-wise path
                    for obj in batch.to_pylist():
                        doc = record_to_doc(obj, path, row, options)
                        if isinstance(doc, Doc) and passthrough:
                            doc.extra = {**doc.extra, **{k: obj.get(k) for k in passthrough}}
                            doc.extra_types = types
                        yield doc
                        row += 1
                    continue
                yield from _columnwise(batch, path, row, options, passthrough, types)
                row += batch.num_rows
    except Exception as e:
        yield Bad(path, row, f"unreadable from row {row} ({type(e).__name__}: {e})")


def _col(batch, name: str | None) -> list:
    if name and name in batch.schema.names:
        return batch.column(name).to_pylist()
    return [None] * batch.num_rows


def _columnwise(batch, path: str, row0: int, options: ReaderOptions, passthrough: list[str],
                types: dict) -> Iterator[Doc | Bad]:
    """The same checks as `record_to_doc`, a column at a time (about 5x faster on wide shards)."""
    names = batch.schema.names
    if options.text_field not in names:
        for i in range(batch.num_rows):
            yield Bad(path, row0 + i, f"missing text field {options.text_field!r} (fields: {sorted(names)[:10]})",
                      reason="missing_text")
        return
    texts, ids = _col(batch, options.text_field), _col(batch, options.id_field)
    urls, dates = _col(batch, options.url_field), _col(batch, options.date_field)
    extra_cols = {k: batch.column(k).to_pylist() for k in passthrough}
    extra_fields = {f: _col(batch, f) for f in options.fields}
    limit = options.max_doc_bytes
    for i, text in enumerate(texts):
        offset = row0 + i
        rid = ids[i]
        did = str(rid) if rid not in (None, "") else doc_id(path, offset)
        if not isinstance(text, str):
            what = "missing" if text is None else f"a {type(text).__name__}, not a string"
            yield Bad(path, offset, f"text field {options.text_field!r} is {what}", did, "missing_text")
        elif not text.strip():
            yield Bad(path, offset, "empty document", did, "empty_document")
        elif len(text) > limit:
            yield Bad(path, offset, f"document too large ({len(text)} chars > max_doc_bytes={limit})", did,
                      "too_large")
        elif "\x00" in text[:4096]:
            yield Bad(path, offset, "binary content (NUL characters in text)", did, "binary")
        else:
            url, date = urls[i], dates[i]
            doc = Doc(id=did, text=text, url=None if url is None else str(url),
                      date=None if date is None else str(date), source=path)
            if passthrough or extra_fields:
                doc.extra = {**{k: v[i] for k, v in extra_fields.items()}, **{k: v[i] for k, v in extra_cols.items()}}
                doc.extra_types = types
            yield doc
