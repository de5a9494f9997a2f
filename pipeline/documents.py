"""The one document iterator: a file's records through the reader stack, HTML extracted under the hard per-page limit
(`pipeline.extract.Extraction`), in record order. A record that cannot be read, or a page the extractor gives up on,
comes out as a `Bad` naming why, never silently dropped; the caller decides what a `Bad` is (the shard worker
quarantines it, generate's seeds too, a stage that only needs texts skips it).

Shared by the shard worker (`pipeline.shard.DocShardWorker`, in batches, with its read and extract timings),
generate's seed documents and `pipeline.stages.base.iter_docs`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.extract import Extraction, ExtractionError
from pipeline.readers import read_path
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc


def extracted(items: Iterable[Doc | Bad], extraction: Extraction | None) -> list[Doc | Bad]:
    """`items` in order, each HTML page's text extracted (its `html` dropped); the pages go to the extraction child
    as one batch (`Extraction.extract_many`). A page that fails becomes a `Bad` (reason: the extraction's, e.g.
    `extract_timeout`). Without an extraction, items pass unchanged."""
    items = list(items)
    if extraction is None:
        return items
    pages = [d for d in items if not isinstance(d, Bad) and d.html is not None]
    texts = dict(zip(map(id, pages), extraction.extract_many([(d.html, d.charset) for d in pages]))) if pages else {}
    out: list[Doc | Bad] = []
    for d in items:
        if id(d) in texts:
            d.html = None
            t = texts[id(d)]
            if isinstance(t, ExtractionError):
                out.append(Bad(d.source, record_offset(d.id), f"{t.reason}: {t}", d.id, t.reason))
                continue
            d.text = t
        out.append(d)
    return out


def read_documents(path: str, reader: ReaderOptions, extraction: Extraction | None,
                   batch: int = 64) -> Iterator[Doc | Bad]:
    """Every record of `path` as a `Doc` (text extracted) or a `Bad`, in order; pages are extracted `batch` at a
    time, as they are read."""
    items = read_path(path, reader)
    while chunk := take(items, batch):
        yield from extracted(chunk, extraction)


def take(it: Iterator, n: int) -> list:
    """The next `n` items of `it` (fewer at its end)."""
    out = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


def record_offset(doc_id: str) -> int:
    """The record offset in a `<file>:<offset>` id, else -1."""
    tail = doc_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else -1
