"""Exact bad-row accounting under load: 1% malformed records injected at random into a 10k-document mixed-format
input (JSONL, JSONL.gz, WARC.gz); the run finishes and the quarantine holds exactly the injected records (file,
offset, reason, record id), nothing else, while every good document is kept or rejected exactly once.

Offsets, as the readers report them: JSONL -> the 1-based line number; WARC -> the record's byte offset in the
uncompressed stream (a good WARC document's id is `<file name>:<offset>`). Record ids: the `id` field where the
record was parsed (binary, oversize), none where it could not be (bad JSON, bad UTF-8 lines); the WARC-Record-ID for
WARC records.

The truncated-gzip rule: gzip cannot resynchronise after a damaged member, so a truncated member ends its file for
the reader. It is quarantined as ONE row (reason `unreadable`) at the offset of the first record that could not be
read whole (JSONL: its line; WARC: its record offset; a record cut in the middle is never delivered as a document),
and the records after it in the same file are lost with it, uncounted. So the injector puts a truncated member only
as the last member of a file (what a partial download looks like), holding one record, cut to half its bytes.
"""
from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.stage import RunContext
from pipeline.stages.filter import FilterJob, run_filter

MAX_DOC = 20_000  # reader.max_doc_bytes for the run: "oversize" means larger than this
WORDS = ("the river carries water from the hills down to the sea and along the way it shapes the land farmers have "
         "settled near rivers for thousands of years because the soil there is rich in spring snow melts water "
         "rises engineers build dams levees control floods fish swim against current birds follow journeys "
         "interpreter reads each line program executes order function called frame created hold variables").split()


def _text(rng: random.Random, i: int) -> str:
    sents = [" ".join(rng.choices(WORDS, k=rng.randint(8, 16))).capitalize() + "." for _ in range(rng.randint(6, 12))]
    return f"Document {i}. " + " ".join(sents)


def _warc_record(kind: str, url: str, text: str) -> tuple[bytes, str]:
    """One record's uncompressed bytes and its WARC-Record-ID."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False)
    if kind == "bad_utf8":  # a WET-style text record with invalid UTF-8
        rec = w.create_warc_record(url, "conversion", payload=io.BytesIO(text.encode() + b" caf\xe9 \xff\xfe"),
                                   warc_headers_dict={"Content-Type": "text/plain"})
    else:
        ctype, payload = "text/html; charset=utf-8", f"<html><body><article><h1>Page</h1><p>{text}</p></article>" \
                                                     f"</body></html>".encode()
        if kind == "binary":
            ctype, payload = "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
        elif kind == "oversize":
            payload = b"<html><body><p>" + b"many words " * (MAX_DOC // 10) + b"</p></body></html>"
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        rec = w.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                   warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"})
    w.write_record(rec)
    return buf.getvalue(), rec.rec_headers.get_header("WARC-Record-ID")


def _jsonl_line(kind: str, rid: str, text: str) -> bytes:
    if kind == "bad_json":
        return json.dumps({"id": rid, "text": text}).encode()[:-9]  # cut: unterminated string
    if kind == "bad_utf8":
        return json.dumps({"id": rid, "text": "x"}).encode().replace(b'"x"', b'"caf\xe9 \xff ' + text.encode()[:40]
                                                                     + b'"')
    if kind == "binary":
        return json.dumps({"id": rid, "text": "\x00\x01\x02 " + text}).encode()
    if kind == "oversize":
        return json.dumps({"id": rid, "text": "word " * (MAX_DOC // 4)}).encode()
    return json.dumps({"id": rid, "text": text}).encode()


REASON = {"bad_json": "malformed_json", "bad_utf8": "invalid_utf8", "binary": "binary", "oversize": "too_large",
          "truncated": "unreadable"}


def build(root: Path, seed: int = 11, per_file: int = 1000) -> tuple[list[Path], set, set]:
    """Ten files (4 JSONL, 3 JSONL.gz, 3 WARC.gz), 10k records, 100 of them malformed at random places; returns
    (files, the injected (file, offset, reason, record_id) rows, the good documents' ids)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    specs = [(f"plain{i}.jsonl", "jsonl") for i in range(4)] + [(f"packed{i}.jsonl.gz", "jsonl.gz") for i in range(3)] \
        + [(f"crawl{i}.warc.gz", "warc") for i in range(3)]
    slots = [(f, i) for f in range(len(specs)) for i in range(per_file)]
    bad_slots = set(rng.sample(slots, 98))
    bad_slots |= {(5, per_file - 1), (8, per_file - 1)}  # a truncated last member in one JSONL.gz and one WARC.gz
    injected, good = set(), set()
    files = []
    for f, (name, fmt) in enumerate(specs):
        path = root / name
        files.append(path)
        members, pos, lines = [], 0, []
        for i in range(per_file):
            text = _text(rng, f * per_file + i)
            kind = "good"
            if (f, i) in bad_slots:
                kind = "truncated" if i == per_file - 1 and f in (5, 8) else rng.choice(
                    ["bad_json", "bad_utf8", "binary", "oversize"] if fmt != "warc" else ["bad_utf8", "binary",
                                                                                          "oversize"])
            if fmt == "warc":
                data, wid = _warc_record("good" if kind == "truncated" else kind, f"https://ex.com/{f}/{i}", text)
                member = gzip.compress(data, mtime=0)
                if kind == "truncated":
                    member = member[: len(member) // 2]
                members.append(member)
                if kind == "good":
                    good.add(f"{name}:{pos}")
                else:
                    injected.add((str(path), pos, REASON[kind], None if kind == "truncated" else wid))
                pos += len(data)
            else:
                rid = f"{name}-{i}"
                line = _jsonl_line("good" if kind == "truncated" else kind, rid, text) + b"\n"
                if kind == "truncated":
                    members.append(gzip.compress(b"".join(lines), mtime=0))
                    lines = []
                    members.append(gzip.compress(line, mtime=0)[: len(gzip.compress(line, mtime=0)) // 2])
                else:
                    lines.append(line)
                if kind == "good":
                    good.add(rid)
                elif kind in ("binary", "oversize"):
                    injected.add((str(path), i + 1, REASON[kind], rid))
                else:
                    injected.add((str(path), i + 1, REASON[kind], None))
                if fmt == "jsonl.gz" and len(lines) == 100:  # multi-member gzip, as concatenated files are
                    members.append(gzip.compress(b"".join(lines), mtime=0))
                    lines = []
        if fmt == "jsonl":
            path.write_bytes(b"".join(lines))
        else:
            if lines:
                members.append(gzip.compress(b"".join(lines), mtime=0))
            path.write_bytes(b"".join(members))
    return files, injected, good


def test_quarantine_holds_exactly_the_injected_records(tmp_path):
    files, injected, good = build(tmp_path / "in")
    assert len(injected) == 100 and len(good) == 9900
    out = tmp_path / "out"
    m = run_filter(FilterJob(inputs=[str(f) for f in files], output=str(out), resources={"workers": 2},
                             runtime={"executor": "local"},
                             filter={"reader": {"max_doc_bytes": MAX_DOC}, "extraction": {"extractor": "fast"}}),
                   RunContext(progress=False))
    rows = [r for f in sorted((out / "quarantine").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    got = [(r["file"], r["offset"], r["reason"], r["record_id"]) for r in rows]
    assert len(got) == len(set(got))
    assert set(got) == injected
    kinds = {r for _, _, r, _ in injected}
    assert kinds == {"malformed_json", "invalid_utf8", "binary", "too_large", "unreadable"}
    # every good document exactly once: kept or rejected (nothing quarantined, lost or doubled)
    seen = [i for sub in ("data", "rejects") for f in sorted((out / sub).glob("*.parquet"))
            for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()]
    assert len(seen) == len(set(seen)) and set(seen) == good
    assert (m["input"], m["quarantined"], m["kept"] + sum(m["removed"].values())) == (10_000, 100, 9900)
