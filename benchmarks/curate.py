"""Curate-stage benchmark on the embedded corpus: where each ground-truth kind ends up, and throughput.

    .venv/bin/python benchmarks/curate.py --docs 20000 [--extractor trafilatura|resiliparse] [--out DIR]

Builds the corpus (`pipeline.corpus`), runs `assay curate` on a local Ray instance, and prints per kind the share
kept / removed / quarantined with the top reasons, the duplicate-cluster outcome (`pipeline.truth_eval`), and the
docs/s of each step. tests/test_curate_ray.py asserts the same rates (with margin) on a 600-page corpus.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extractor", default="trafilatura")
    ap.add_argument("--out", default=".bench/curate")
    args = ap.parse_args()

    from pipeline.corpus import build_corpus
    from pipeline.curate import CurateJob, run_curate
    from pipeline.truth_eval import duplicate_clusters, outcome_by_kind

    out = Path(args.out) / f"{args.docs}-{args.seed}"
    corpus = out / "corpus"
    if not (corpus / TRUTH_FILE).exists():
        info = build_corpus(corpus, docs=args.docs, seed=args.seed, docs_per_file=1000, workers=2)
        print(f"corpus: {info['docs']} pages in {info['wall_s']:.1f} s", file=sys.stderr)
    t0 = time.perf_counter()
    m = run_curate(CurateJob(inputs=sorted(str(p) for p in corpus.glob("*.warc.gz")), output=str(out / "curated"),
                             filter={"extractor": args.extractor}), progress=False)
    wall = time.perf_counter() - t0
    kinds = outcome_by_kind(out / "curated", corpus / TRUTH_FILE)
    clusters = duplicate_clusters(out / "curated", corpus / TRUTH_FILE)
    print(f"\ncurate: {m['input']} docs in {wall:.1f} s wall = {m['input'] / wall:.1f} docs/s on "
          f"{os.cpu_count()} cores; kept {m['kept']}, quarantined {m['quarantined']}")
    print("\n| kind | docs | kept | removed | quarantined | top reasons |\n|---|--:|--:|--:|--:|---|")
    for k, v in kinds.items():
        print(f"| {k} | {v['docs']} | {v['kept']:.1%} | {v['removed']:.1%} | {v['quarantined']:.1%} | "
              f"{', '.join(f'{r} {n}' for r, n in v['top_reasons'].items())} |")
    print(f"\nduplicate clusters: {json.dumps({k: round(v, 4) for k, v in clusters.items()})}")
    print("\n| step | docs | worker s | docs/s |\n|---|--:|--:|--:|")
    for name, s in m["steps"].items():
        print(f"| {name} | {s['docs']} | {s['wall_s']:.1f} | {s.get('docs_per_s') or ''} |")


if __name__ == "__main__":
    main()
