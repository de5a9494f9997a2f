"""What WARC, WET and ARC payloads share: the checks that turn a record's body into a `Doc` or a `Bad` (size,
binary, empty, encoding). Its own module so that `archive` and `arc` both use it without importing each other."""
from __future__ import annotations

from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc, doc_id

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")


def charset_of(content_type: str) -> str | None:
    for part in content_type.split(";"):
        part = part.strip()
        if part.startswith("charset="):
            return part[len("charset="):].strip("\"' ") or None
    return None


def payload_to_doc(path: str, offset: int, body: bytes, truncated: bool, ctype: str, url: str | None,
                   date: str | None, rec_id: str | None, is_text: bool, options: ReaderOptions) -> Doc | Bad:
    """Checks shared by WARC, WET and ARC payloads: size, binary, empty, encoding."""
    if truncated:
        return Bad(path, offset, f"document too large (> max_doc_bytes={options.max_doc_bytes} bytes)", rec_id,
                   "too_large")
    if ctype and not ctype.startswith(TEXT_TYPES):
        return Bad(path, offset, f"binary content (Content-Type: {ctype.split(';')[0]})", rec_id, "binary")
    if b"\x00" in body[:4096]:
        return Bad(path, offset, "binary content (NUL bytes in payload)", rec_id, "binary")
    if not body.strip():
        return Bad(path, offset, "empty document", rec_id, "empty_document")
    did = doc_id(path, offset)
    if is_text:
        try:
            return Doc(id=did, text=body.decode("utf-8"), url=url, date=date, source=path)
        except UnicodeDecodeError as e:
            return Bad(path, offset, f"invalid UTF-8 at byte {e.start}", rec_id, "invalid_utf8")
    return Doc(id=did, url=url, date=date, source=path, html=body, charset=charset_of(ctype))
