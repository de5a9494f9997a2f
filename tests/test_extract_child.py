"""The batched extraction child: one long-lived child per worker gets pages in batches; a page that runs past the
hard limit or whose child dies is quarantined with its reason, the rest of its batch is extracted by a new child,
and the texts are those of an undisturbed run. A child that dies is retried once before its page is quarantined."""
from __future__ import annotations

import os
import signal
import threading
import time

import pyarrow.parquet as pq

from pipeline.extract import Extraction, ExtractionConfig, ExtractionError
from pipeline.runner import Layout
from pipeline.stages.filter import FilterConfig, filter_worker
from tests.helpers import PROSE, PROSE2, html_page, write_warc

# resiliparse needs minutes on 50k nested <div> (native code: only a kill stops it); the depth pre-check is off
DEEP = b"<html><body>" + b"<div>" * 50_000 + b"deep text " + b"</div>" * 50_000 + b"</body></html>"
GOOD = [html_page(f"{PROSE}\n\nPage {i}. {PROSE2}", f"Page {i}") for i in range(4)]
CFG = dict(extractor="resiliparse", max_depth=10 ** 9)


def undisturbed(pages: list[bytes]) -> list[str]:
    ex = Extraction(ExtractionConfig(**CFG))
    try:
        return ex.extract_many([(p, "utf-8") for p in pages])
    finally:
        ex.close()


def test_a_page_past_the_limit_is_quarantined_and_the_rest_of_its_batch_extracted():
    ex = Extraction(ExtractionConfig(timeout_s=2, **CFG))
    try:
        out = ex.extract_many([(p, "utf-8") for p in (GOOD[0], DEEP, GOOD[1], GOOD[2])])
    finally:
        ex.close()
    assert isinstance(out[1], ExtractionError) and out[1].reason == "extraction_timeout"
    assert "process killed" in str(out[1])
    assert [out[0], out[2], out[3]] == undisturbed([GOOD[0], GOOD[1], GOOD[2]])
    assert "Page 2." in out[3] and ex.restarts == 2  # the rest of the batch went to the replacement child


def _kill_children(ex: Extraction, n: int, after_s: float = 0.3) -> threading.Thread:
    """SIGKILL the extraction child `n` times (each new child once), as an OOM killer would."""
    def run():
        last = None
        for _ in range(n):
            deadline = time.monotonic() + 60
            while (ex.pid is None or ex.pid == last) and time.monotonic() < deadline:
                time.sleep(0.01)
            last = ex.pid
            time.sleep(after_s)
            if last is not None:
                os.kill(last, signal.SIGKILL)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_page_whose_child_dies_twice_is_quarantined_and_the_rest_extracted():
    ex = Extraction(ExtractionConfig(timeout_s=60, **CFG))
    killer = _kill_children(ex, 2)  # both kills land while a child is on DEEP (the first page: minutes of work)
    try:
        out = ex.extract_many([(p, "utf-8") for p in (DEEP, GOOD[0], GOOD[1])])
    finally:
        killer.join(5)
        ex.close()
    assert isinstance(out[0], ExtractionError) and out[0].reason == "extraction_crashed"
    assert "died (exit code -9) on 2 tries" in str(out[0])
    assert out[1:] == undisturbed([GOOD[0], GOOD[1]])
    assert ex.retried == 1 and ex.restarts == 3


def test_a_killed_child_is_retried_once_and_loses_nothing():
    big = b"<html><body><table>" + b"<tr><td>cell one</td><td>cell two</td></tr>" * 60_000 + b"</table></body></html>"
    pages = [big] + GOOD
    ex = Extraction(ExtractionConfig(timeout_s=60, **CFG))
    killer = _kill_children(ex, 1, after_s=0.2)  # lands while the child starts or works on `big` (~1 s)
    try:
        out = ex.extract_many([(p, "utf-8") for p in pages])
    finally:
        killer.join(5)
        ex.close()
    assert out == undisturbed(pages)
    assert ex.retried == 1 and ex.restarts == 2


def test_shard_output_with_a_timeout_mid_batch_equals_an_undisturbed_run(tmp_path):
    def run(name, pages, **extra):
        path = write_warc(tmp_path / f"{name}.warc.gz", pages)
        layout = Layout.standalone(tmp_path / name, "filter")
        worker = filter_worker(layout, FilterConfig(extraction={**CFG, **extra}, annotate_only=True))
        stats = worker.process(str(path), "s")
        worker.close()
        q = layout.quarantine / "s.parquet"
        return (stats["counts"], pq.read_table(layout.data / "s.parquet").to_pylist(),
                pq.read_table(q).to_pylist() if q.exists() else [])

    urls = [(f"http://x/{i}", p) for i, p in enumerate(GOOD)]
    counts, kept, quarantine = run("hit", urls[:2] + [("http://x/deep", DEEP)] + urls[2:], timeout_s=2)
    counts0, kept0, _ = run("calm", urls)
    assert [q["reason"] for q in quarantine] == ["extraction_timeout"] and quarantine[0]["offset"] > 0
    assert counts["quarantined"] == 1 and counts["input"] == counts0["input"] + 1
    drop = ("source", "id")  # the deep record shifts the later records' offsets, nothing else
    assert [{k: v for k, v in r.items() if k not in drop} for r in kept] == \
        [{k: v for k, v in r.items() if k not in drop} for r in kept0]
    assert len(kept) == 4  # all four good pages extracted, in order
