"""JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`) with configurable text/id/url/date fields."""
from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

from pipeline.io import open_binary
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc, doc_id


def _open_lines(path: str):
    raw = open_binary(path)
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if path.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
    return raw


def _get(obj: dict, dotted: str | None):
    """`metadata.url`-style lookups into nested records."""
    if not dotted:
        return None
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def record_to_doc(obj, path: str, offset: int, options: ReaderOptions) -> Doc | Bad:
    """Shared by the JSONL, Parquet and `datasets` readers: one mapping -> Doc, or Bad naming what is wrong."""
    if not isinstance(obj, dict):
        return Bad(path, offset, f"record is a {type(obj).__name__}, not an object", reason="not_an_object")
    text = _get(obj, options.text_field)
    if text is None:
        return Bad(path, offset, f"missing text field {options.text_field!r} (fields: {sorted(obj)[:10]})",
                   reason="missing_text")
    if not isinstance(text, str):
        return Bad(path, offset, f"text field {options.text_field!r} is a {type(text).__name__}, not a string",
                   reason="missing_text")
    rid = _get(obj, options.id_field)
    did = str(rid) if rid not in (None, "") else doc_id(path, offset)
    if not text.strip():
        return Bad(path, offset, "empty document", did, "empty_document")
    if len(text) > options.max_doc_bytes:
        return Bad(path, offset, f"document too large ({len(text)} chars > max_doc_bytes={options.max_doc_bytes})",
                   did, "too_large")
    if "\x00" in text[:4096]:
        return Bad(path, offset, "binary content (NUL characters in text)", did, "binary")
    url, date = _get(obj, options.url_field), _get(obj, options.date_field)
    doc = Doc(id=did, text=text, url=None if url is None else str(url), date=None if date is None else str(date),
              source=path)
    if options.fields:
        doc.extra = {f: _get(obj, f) for f in options.fields}
    return doc


def first_record(path: str, max_lines: int = 100):
    """The first parseable JSON record of a JSONL file (None if none in the first `max_lines` lines)."""
    with _open_lines(path) as fh:
        for i, raw in enumerate(fh):
            if i >= max_lines:
                break
            if raw.strip():
                try:
                    return json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
    return None


def read_jsonl(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    line_no = 0
    n = 0
    try:
        with _open_lines(path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                n += 1
                if len(raw) > options.max_doc_bytes * 2:
                    yield Bad(path, line_no, f"line too large ({len(raw)} bytes)", reason="too_large")
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield Bad(path, line_no, f"invalid UTF-8 at byte {e.start} of line {line_no}", reason="invalid_utf8")
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    yield Bad(path, line_no, f"malformed JSON on line {line_no}: {e.msg} at column {e.colno}",
                              reason="malformed_json")
                    continue
                yield record_to_doc(obj, path, line_no, options)
    except Exception as e:  # truncated gzip/zstd, I/O errors: the first line not read, and the rest of the file
        yield Bad(path, line_no + 1, f"unreadable after line {line_no} ({type(e).__name__}: {e})")
        return
    if n == 0:
        yield Bad(path, 0, "empty file: no JSON lines", reason="empty_file")
