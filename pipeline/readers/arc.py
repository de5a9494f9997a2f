"""Legacy ARC v1 files (CommonCrawl 2008-2012), gzipped or not.

A record is a header line ``URL IP-address Archive-date Content-type Archive-length`` followed by exactly
Archive-length bytes (HTTP headers + body); the first record (``filedesc://``) describes the file. Real files do not
always put a blank line between records (warcio's strict parser stops there), so this reader skips blank lines
itself and trusts the declared length.
"""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from datetime import datetime

from pipeline.io import open_binary
from pipeline.readers.payload import payload_to_doc
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc


def _arc_date(s: str) -> str | None:
    try:
        return datetime.strptime(s[:14], "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _split_http(block: bytes) -> tuple[str, bytes]:
    """(content-type from the HTTP headers, body decoded from its Content-Encoding)."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    if not sep or not head.startswith(b"HTTP/"):
        return "", block
    ctype = encoding = ""
    for line in head.split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-type":
            ctype = value.strip().decode("latin-1").lower()
        elif name == b"content-encoding":
            encoding = value.strip().decode("latin-1").lower()
    # CommonCrawl's ARCs often keep `Content-Encoding: gzip` on bodies they already decoded: trust the bytes.
    if encoding in ("gzip", "x-gzip") and body[:2] == b"\x1f\x8b":
        body = zlib.decompress(body, 47)
    return ctype, body


def read_arc(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    raw = open_binary(path)
    fh = gzip.GzipFile(fileobj=raw) if path.lower().endswith(".gz") else raw
    offset = 0
    n_docs = 0
    with fh:
        while True:
            try:
                line = fh.readline()
                while line in (b"\n", b"\r\n"):
                    offset += len(line)
                    line = fh.readline()
                if not line:
                    break
                fields = line.decode("latin-1").split()
                if len(fields) < 5 or not fields[-1].isdigit():
                    yield Bad(path, offset, f"malformed ARC header line: {line[:120]!r}; rest of file skipped")
                    return
                url, date, length = fields[0], fields[2], int(fields[-1])
                block = fh.read(length)
                if len(block) < length:
                    yield Bad(path, offset, f"truncated ARC record ({len(block)} of {length} bytes)")
                    return
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                yield Bad(path, offset, f"unreadable after offset {offset} ({type(e).__name__}: {e})")
                return
            rec_offset = offset
            offset += len(line) + length
            if url.startswith("filedesc://"):
                continue
            n_docs += 1
            try:
                ctype, body = _split_http(block)
            except zlib.error as e:
                yield Bad(path, rec_offset, f"undecodable Content-Encoding ({e})", reason="bad_encoding")
                continue
            too_big = len(body) > options.max_doc_bytes
            yield payload_to_doc(path, rec_offset, body[: options.max_doc_bytes], too_big, ctype or fields[3].lower(),
                                 url, _arc_date(date), None, False, options)
    if n_docs == 0:
        yield Bad(path, 0, "empty file: no ARC records", reason="empty_file")
