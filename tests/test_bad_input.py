"""Each kind of bad input gets a clear message naming file and record, lands in quarantine, and the run goes on;
counts in == kept + removed + quarantined for every shard."""
from __future__ import annotations

import gzip
import json
import time

import pyarrow.parquet as pq
import pytest

from pipeline.manifest import StageCounts, check_conservation
from pipeline.runner import Layout
from pipeline.schema import shard_name
from pipeline.stages.filter import FilterConfig, filter_worker
from tests.helpers import PROSE, PROSE2, html_page, write_jsonl, write_warc

GOOD = PROSE + "\n\n" + PROSE2


def run_shard(tmp_path, path, **cfg):
    layout = Layout.standalone(tmp_path / "out", "filter")
    worker = filter_worker(layout, FilterConfig(**cfg))
    stats = worker.process(str(path), shard_name(str(path)))
    worker.close()
    check_conservation(StageCounts.from_dict(stats["counts"]))
    qfile = layout.quarantine / f"{shard_name(str(path))}.parquet"
    quarantine = pq.read_table(qfile).to_pylist() if qfile.exists() else []
    kept = pq.read_table(layout.data / f"{shard_name(str(path))}.parquet").to_pylist()
    return stats["counts"], quarantine, kept


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    p = write_warc(tmp_path / "t.warc.gz", [(f"http://x/{i}", html_page(GOOD)) for i in range(6)])
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.7)])
    counts, quarantine, kept = run_shard(tmp_path, p)
    assert 1 <= len(kept) < 6
    assert len(quarantine) == 1 and quarantine[0]["file"] == str(p)
    assert "unreadable after offset" in quarantine[0]["error"] and quarantine[0]["offset"] > 0


def test_invalid_utf8_and_malformed_json_lines(tmp_path):
    p = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "ok", "text": GOOD}).encode()
    p.write_bytes(good + b"\n" + b'{"id": "u", "text": "caf\xe9 \xff"}\n' + b'{"id": "j", "text": \n' + good + b"\n")
    counts, quarantine, kept = run_shard(tmp_path, p)
    errors = {q["offset"]: q["error"] for q in quarantine}
    assert "invalid UTF-8" in errors[2] and "malformed JSON on line 3" in errors[3]
    assert all(q["file"] == str(p) for q in quarantine)
    assert counts["input"] == 4 and len(kept) == 2


@pytest.mark.parametrize("kind", ["empty_jsonl", "empty_gz", "empty_warc"])
def test_empty_files(tmp_path, kind):
    if kind == "empty_jsonl":
        p = tmp_path / "e.jsonl"
        p.write_bytes(b"")
    elif kind == "empty_gz":
        p = tmp_path / "e.jsonl.gz"
        p.write_bytes(gzip.compress(b""))
    else:
        p = tmp_path / "e.warc.gz"
        p.write_bytes(b"")
    counts, quarantine, kept = run_shard(tmp_path, p)
    assert counts == {"input": 1, "kept": 0, "removed": {}, "quarantined": 1}
    assert "empty file" in quarantine[0]["error"] and quarantine[0]["file"] == str(p)


def test_empty_documents_and_binary_content(tmp_path):
    p = write_warc(tmp_path / "b.warc.gz", [("http://x/ok", html_page(GOOD)), ("http://x/empty", b"   ")])
    counts, quarantine, kept = run_shard(tmp_path, p)
    assert [q["error"] for q in quarantine] == ["empty document"] and len(kept) == 1
    png = write_warc(tmp_path / "img.warc.gz", [("http://x/img", b"\x89PNG\r\n\x1a\n\x00\x00")],
                     content_type="image/png")
    counts, quarantine, kept = run_shard(tmp_path, png)
    assert "binary content (Content-Type: image/png)" in quarantine[0]["error"]
    assert quarantine[0]["record_id"].startswith("<urn:uuid:")
    nul = write_jsonl(tmp_path / "nul.jsonl", [{"id": "n", "text": "abc\x00\x01\x02 binary"}])
    counts, quarantine, kept = run_shard(tmp_path, nul)
    assert "binary content" in quarantine[0]["error"] and quarantine[0]["record_id"] == "n"


def test_50mb_document_is_quarantined_not_loaded(tmp_path):
    big = "word " * (10 * 1024 * 1024)  # 50 MB
    p = write_jsonl(tmp_path / "big.jsonl", [{"id": "big", "text": big}, {"id": "ok", "text": GOOD}])
    counts, quarantine, kept = run_shard(tmp_path, p)
    assert len(quarantine) == 1 and "too large" in quarantine[0]["error"] and quarantine[0]["offset"] == 1
    assert [k["id"] for k in kept] == ["ok"]
    w = write_warc(tmp_path / "big.warc.gz", [("http://x/big", big.encode()), ("http://x/ok", html_page(GOOD))])
    counts, quarantine, kept = run_shard(tmp_path, w)
    assert "too large" in quarantine[0]["error"] and len(kept) == 1


NESTED = b"<html><body>" + b"<div>" * 50_000 + b"deep text " + b"</div>" * 50_000 + b"</body></html>"
TABLES = b"<html><body>" + b"<table><tr><td>cell " * 100_000 + b"</body></html>"


@pytest.mark.parametrize("extractor", ["fast", "trafilatura", "resiliparse"])
def test_hostile_html_is_refused_by_the_depth_precheck(tmp_path, extractor):
    p = write_warc(tmp_path / "n.warc.gz", [("http://x/deep", NESTED), ("http://x/tables", TABLES),
                                           ("http://x/ok", html_page(GOOD))])
    t0 = time.perf_counter()
    counts, quarantine, kept = run_shard(tmp_path, p, extraction={"extractor": extractor})
    assert time.perf_counter() - t0 < 30
    assert counts["input"] == 3 and [k["url"] for k in kept] == ["http://x/ok"]
    assert [q["reason"] for q in quarantine] == ["extraction_too_deep"] * 2
    assert all(q["record_id"].endswith(":" + str(q["offset"])) for q in quarantine)


@pytest.mark.parametrize("extractor", ["fast", "trafilatura", "resiliparse"])
def test_hostile_html_past_the_precheck_is_killed_at_the_hard_limit(tmp_path, extractor):
    """With the depth pre-check off, the extracting process is killed at the time limit: native code (resiliparse
    needs minutes for 50k nested divs) cannot hold the worker."""
    p = write_warc(tmp_path / "n.warc.gz", [("http://x/deep", NESTED), ("http://x/ok", html_page(GOOD))])
    t0 = time.perf_counter()
    counts, quarantine, kept = run_shard(tmp_path, p, extraction={"extractor": extractor, "timeout_s": 2,
                                                                  "max_depth": 10 ** 9})
    assert time.perf_counter() - t0 < 30
    assert counts["input"] == 2 and [k["url"] for k in kept] == ["http://x/ok"]
    if extractor == "resiliparse":  # trafilatura gives up on its own (lxml's depth limit) and finds no text
        assert [q["reason"] for q in quarantine] == ["extraction_timeout"]
        assert "process killed" in quarantine[0]["error"]


def test_extraction_timeout_is_counted(tmp_path):
    pages = [(f"http://x/{i}", html_page(GOOD)) for i in range(3)]
    p = write_warc(tmp_path / "slow.warc.gz", pages)
    counts, quarantine, kept = run_shard(tmp_path, p, extraction={"timeout_s": 1e-6})
    assert counts["quarantined"] == 3 and all(q["reason"] == "extraction_timeout" for q in quarantine)
