"""WARC (`response` HTML records) and WET (`conversion` text records) via warcio; legacy ARC via `arc.py`.
Gzipped or not."""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

from warcio.archiveiterator import ArchiveIterator

from pipeline.io import open_binary
from pipeline.readers.options import ReaderOptions
from pipeline.readers.payload import payload_to_doc
from pipeline.schema import Bad, Doc, doc_id

class _GzipMembers:
    """Decompresses member by member and remembers a truncation instead of hiding it.

    warcio's own decompression stops silently at a truncated gzip member (silent loss); here the records of every
    complete member are delivered and the error is raised after them. Record offsets are therefore offsets into the
    uncompressed stream (stable for a file, which is what ids need).
    """

    def __init__(self, raw):
        self.gz = gzip.GzipFile(fileobj=raw)
        self.error: Exception | None = None

    def read(self, n: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            return self.gz.read1(n if n and n > 0 else 1 << 16)
        except (EOFError, OSError, zlib.error) as e:
            self.error = e
            return b""


class _Truncated(Exception):
    """A record whose block ends before its Content-Length: the file was cut inside it."""

    def __init__(self, offset: int, missing: int, cause: Exception | None):
        why = f"{type(cause).__name__}: {cause}" if cause is not None else "end of file"
        super().__init__(f"record at offset {offset} is cut {missing} bytes short ({why})")
        self.offset = offset


def _cut(record) -> int:
    """Bytes of the record's block that never came (0: complete)."""
    limit = getattr(record.raw_stream, "limit", 0)
    return limit if isinstance(limit, int) and limit > 0 else 0


def read_archive(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    """Every response/conversion record as a Doc or a Bad. A file cut short (a truncated gzip member, a partial
    download) ends in one Bad at the offset of the first record that could not be read whole (that record and
    everything after it are lost: gzip cannot resynchronise); a record cut in the middle is never delivered."""
    if path.lower().endswith((".arc", ".arc.gz")):
        from pipeline.readers.arc import read_arc

        yield from read_arc(path, options)
        return
    n_docs = 0
    offset = 0  # of the last record read
    it = fh = None
    try:
        with open_binary(path) as raw:
            fh = _GzipMembers(raw) if path.lower().endswith(".gz") else raw
            it = ArchiveIterator(fh)
            for record in it:
                rtype = record.rec_type
                if rtype not in ("response", "conversion"):
                    continue
                headers = record.rec_headers
                if rtype == "response" and record.http_headers is None:
                    start = it.get_record_offset()
                    if _cut(record):
                        raise _Truncated(start, _cut(record), getattr(fh, "error", None))
                    n_docs += 1
                    offset = start
                    yield Bad(path, offset, "response record without HTTP headers",
                              headers.get_header("WARC-Record-ID"))
                    continue
                src = record.http_headers if rtype == "response" else headers
                ctype = (src.get_header("Content-Type") or "").lower()
                body = record.content_stream().read(options.max_doc_bytes + 1)
                start = it.get_record_offset()  # (reads the rest of the record)
                if _cut(record):
                    raise _Truncated(start, _cut(record), getattr(fh, "error", None))
                n_docs += 1
                offset = start
                yield payload_to_doc(path, offset, body[: options.max_doc_bytes],
                                     len(body) > options.max_doc_bytes, ctype,
                                     headers.get_header("WARC-Target-URI"), headers.get_header("WARC-Date"),
                                     headers.get_header("WARC-Record-ID"), rtype == "conversion", options)
        if isinstance(fh, _GzipMembers) and fh.error is not None:
            raise fh.error
    except Exception as e:  # truncated gzip, garbage between records, I/O errors: quarantine the rest of the file
        # where reading stopped: the cut record's own offset, else the end of the last record read
        at = e.offset if isinstance(e, _Truncated) else getattr(it, "offset", offset) if it is not None else offset
        yield Bad(path, at, f"unreadable after offset {offset} ({type(e).__name__}: {e}); "
                            f"{n_docs} records before it were read")
        return
    if n_docs == 0:
        yield Bad(path, 0, "empty file: no response/conversion records", reason="empty_file")
