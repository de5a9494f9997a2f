"""`assay demo` / `make demo`: the whole mission end to end on the embedded corpus, on one laptop.

1. build the embedded corpus (WARC + ground truth);
2. `curate` it (extract, language ID, heuristic filters, exact + MinHash dedupe), showing progress and the summary;
3. make the ablation arms: raw (extracted + language-ID'd only), deduped (raw + dedupe), filtered (= curated);
4. hold out clean text: the prose pages of 10% of the ground-truth duplicate clusters are removed from every arm and
   become the held-out eval set, so no arm has seen them or their near-copies;
5. `ablate` (configs/ablate-demo.yaml): tiny students on each arm, L(N, D) fits, compute multipliers, report.
Every step is resumable: running the demo again skips what is finished.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.corpus import TRUTH_FILE
from pipeline.io import write_parquet_atomic, write_text_atomic

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "configs" / "ablate-demo.yaml"


def _say(msg: str) -> None:
    print(f"\n[assay demo] {msg}", file=sys.stderr, flush=True)


def heldout_urls(truth_path: Path, fraction: float = 0.1) -> tuple[set[str], set[str]]:
    """(every URL of a held-out cluster, the URLs of its clean original prose pages)."""
    rows = [json.loads(line) for line in truth_path.read_text().splitlines() if line.strip()]

    def held(cluster) -> bool:
        return int(hashlib.sha1(str(cluster).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction

    clusters = {r["cluster"] for r in rows if r["kind"] == "prose" and held(r["cluster"])}
    every = {r["url"] for r in rows if r["cluster"] in clusters}
    clean = {r["url"] for r in rows if r["cluster"] in clusters and r["kind"] == "prose" and not r.get("dup_of")}
    return every, clean


def make_arm(src: Path, dst: Path, drop: set[str]) -> int:
    """Copy an arm's Parquet shards without the held-out URLs."""
    n = 0
    for f in sorted(src.glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "text", "url"])
        keep = pa.array([u not in drop for u in t.column("url").to_pylist()])
        t = t.filter(keep)
        n += t.num_rows
        write_parquet_atomic(t, dst / f.name)
    return n


def run_demo(out: Path, docs: int = 3000, seed: int = 0, address: str | None = None, ablate: bool = True) -> Path:
    from pipeline.config import load_config
    from pipeline.corpus import build_corpus
    from pipeline.stage import RunContext
    from pipeline.stages.ablate import AblateConfig, run_ablate
    from pipeline.stages.curate import CurateJob, run_curate
    from pipeline.stages.dedupe import DedupeJob, run_dedupe
    from pipeline.stages.filter import FilterJob, run_filter

    out = Path(out).resolve()
    ctx = RunContext(address=address)
    corpus = out / "corpus"
    if not (corpus / TRUTH_FILE).exists():
        _say(f"building the embedded corpus: {docs} pages, seed {seed}")
        info = build_corpus(corpus, docs=docs, seed=seed, docs_per_file=250)
        _say(f"corpus: {info['counts']}")

    _say("curate: extract, language ID, Gopher/C4/FineWeb filters, exact + MinHash dedupe")
    run_curate(CurateJob(inputs=[str(corpus)], output=str(out / "curate")), ctx)
    off = {k: {"enabled": False} for k in ("gopher_repetition", "gopher_quality", "c4", "fineweb", "hash_dump")}
    _say("raw arm: extraction and language ID only")
    run_filter(FilterJob(inputs=[str(corpus)], output=str(out / "raw"), filter={"heuristics": off}), ctx)
    _say("deduped arm: raw + exact and MinHash dedupe")
    run_dedupe(DedupeJob(inputs=[str(out / "raw")], output=str(out / "dedupe")), ctx)

    drop, clean = heldout_urls(corpus / TRUTH_FILE)
    arms = {"raw": out / "raw" / "data", "deduped": out / "dedupe" / "data", "filtered": out / "curate" / "data"}
    sizes = {name: make_arm(src, out / "arms" / name, drop) for name, src in arms.items()}
    raw_rows = pq.read_table(out / "raw" / "data").select(["url", "text"]).to_pylist()
    held = [r["text"] for r in raw_rows if r["url"] in clean]
    write_text_atomic("".join(json.dumps({"text": t}) + "\n" for t in held), out / "heldout" / "clean.jsonl")
    _say(f"arms (documents): {sizes}; held-out clean documents: {len(held)}")
    if not ablate:
        return out
    cfg = load_config(AblateConfig, DEMO_CONFIG, {"vars": {
        "demo": str(out), "raw": str(out / "arms" / "raw"), "deduped": str(out / "arms" / "deduped"),
        "filtered": str(out / "arms" / "filtered")}})
    _say("ablate: tiny students on each arm, L(N,D) fits and the compute-multiplier report")
    report_dir = run_ablate(cfg, ctx)
    _say(f"done. Report: {report_dir}")
    return report_dir
