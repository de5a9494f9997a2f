"""Shared by the benchmarks: build the embedded corpus and yield its extracted, non-empty texts with ground truth."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def extracted_corpus(warc_dir: Path, docs: int, seed: int) -> Iterator[tuple[str, str, str, dict]]:
    """(id, url, text, truth row) per page whose resiliparse extraction is non-empty (datatrove's readers skip empty
    texts, so every tool gets the same set). Raises if a page's URL is missing from the truth file."""
    from pipeline.corpus import TRUTH_FILE, build_corpus
    from pipeline.extract import ExtractionError, extract
    from pipeline.readers import read_path
    from pipeline.schema import Doc

    t0 = time.perf_counter()
    info = build_corpus(warc_dir, docs=docs, seed=seed, docs_per_file=5000, workers=2)
    print(f"built corpus of {docs} pages in {time.perf_counter() - t0:.0f}s: {info['counts']}", file=sys.stderr)
    truth = {}
    with open(warc_dir / TRUTH_FILE) as fh:
        for line in fh:
            row = json.loads(line)
            truth[row["url"]] = row
    t0, n = time.perf_counter(), 0
    for path in sorted(warc_dir.glob("corpus-*.warc.gz")):
        for d in read_path(str(path)):
            if not isinstance(d, Doc):
                continue
            try:
                text = d.text or extract(d.html, d.charset, "resiliparse")
            except ExtractionError:
                continue
            if not text.strip():
                continue
            if d.url not in truth:
                raise ValueError(f"{path}: record {d.id} has URL {d.url!r} not in {TRUTH_FILE}")
            n += 1
            yield d.id, d.url, text, truth[d.url]
    print(f"extracted {n} texts in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
