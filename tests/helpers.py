"""Small builders for test inputs (real files in real formats)."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PROSE = (
    "The interpreter reads each line of the program and executes it in order. When a function is called, a new "
    "frame is created to hold its local variables, and the frame is discarded when the function returns. "
    "Modules are imported once and cached, so the second import of the same module is cheap. Errors raised "
    "inside a function travel up the call stack until a handler catches them. The standard library offers "
    "tools for files, networking, text processing and much more. Most programs start small and grow as their "
    "authors learn what the problem really needs. Tests help the authors change the code with confidence."
)

PROSE2 = (
    "A river carries water from the hills down to the sea, and along the way it shapes the land it passes "
    "through. Farmers have settled near rivers for thousands of years because the soil there is rich. In spring "
    "the snow melts and the water rises, sometimes flooding the fields. Engineers build dams and levees to "
    "control these floods, but every change upstream affects the people who live downstream. Fish swim against "
    "the current to reach the places where they were born. Birds follow the river on their long journeys."
)


def stage_outputs(out: Path, strip_path_hashes: bool = False) -> dict:
    """Every output file's rows, in order, and the manifest's counts: what two runs that must agree are compared by.
    `strip_path_hashes`: file names without their path hashes (a stage's intermediate shards are named after their
    path, which contains the output folder)."""
    import re

    import pyarrow.parquet as pq

    def name(p: Path) -> str:
        return re.sub(r"-[0-9a-f]{8}(?=[-.])", "", p.name) if strip_path_hashes else p.name

    res = {sub: {name(p): pq.read_table(p).to_pylist() for p in sorted((out / sub).glob("*.parquet"))}
           for sub in ("data", "rejects", "quarantine")}
    m = json.loads((out / "manifest.json").read_text())
    res["counts"] = {k: m[k] for k in ("input", "kept", "removed", "quarantined")}
    return res


def html_page(body: str, title: str = "A page") -> bytes:
    paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About</a>"
            f"</nav><article><h1>{title}</h1>{paras}</article><footer>Copyright 2024</footer></body></html>").encode()


def write_warc(path: Path, pages: list[tuple[str, bytes | str]], content_type: str = "text/html; charset=utf-8",
               gz: bool = True) -> Path:
    """pages: (url, payload). Writes WARC response records."""
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz)
        for url, payload in pages:
            payload = payload.encode() if isinstance(payload, str) else payload
            http = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                       warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"})
            w.write_record(rec)
    return path


def write_wet(path: Path, texts: list[tuple[str, str]]) -> Path:
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, text in texts:
            rec = w.create_warc_record(url, "conversion", payload=io.BytesIO(text.encode()),
                                       warc_headers_dict={"Content-Type": "text/plain",
                                                          "WARC-Date": "2024-05-01T00:00:00Z"})
            w.write_record(rec)
    return path


def write_arc(path: Path, pages: list[tuple[str, bytes]]) -> Path:
    """ARC v1 as CommonCrawl wrote it (no blank line between records)."""
    desc = b"1 0 CommonCrawl\nURL IP-address Archive-date Content-type Archive-length\n"
    out = [b"filedesc://test.arc 0.0.0.0 20080509190241 text/plain %d\n" % len(desc) + desc]
    for url, body in pages:
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
        out.append(b"%s 1.2.3.4 20080509190241 text/html %d\n" % (url.encode(), len(block)) + block)
    path.write_bytes(b"".join(out))
    return path


def write_jsonl(path: Path, rows: list, gz: bool | None = None) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    if gz or (gz is None and str(path).endswith(".gz")):
        data = gzip.compress(data, mtime=0)
    elif str(path).endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path
