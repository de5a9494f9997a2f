"""Plain text files: one document per file (UTF-8)."""
from __future__ import annotations

from collections.abc import Iterator

from pipeline.io import open_binary
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc, doc_id


def read_text(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    with open_binary(path) as fh:
        raw = fh.read(options.max_doc_bytes + 1)
    if len(raw) > options.max_doc_bytes:
        yield Bad(path, 0, f"document too large (> max_doc_bytes={options.max_doc_bytes} bytes)", reason="too_large")
    elif not raw.strip():
        yield Bad(path, 0, "empty file", reason="empty_file")
    elif b"\x00" in raw[:4096]:
        yield Bad(path, 0, "binary content (NUL bytes)", reason="binary")
    else:
        try:
            yield Doc(id=doc_id(path, 0), text=raw.decode("utf-8"), source=path)
        except UnicodeDecodeError as e:
            yield Bad(path, 0, f"invalid UTF-8 at byte {e.start}", reason="invalid_utf8")
