"""Whole-process benchmarks of the stage spine (issue 7): start to exit, the way a user runs the commands.

    .venv/bin/python benchmarks/process.py dedupe --docs 10000 100000
    .venv/bin/python benchmarks/process.py curate --docs 5000 --ref 161f18b

`dedupe`: `assay dedupe DOCS.jsonl -o OUT` against a plain datasketch loop (`benchmarks/datasketch_loop.py`, one
process, query-then-insert) on the same JSONL documents (the embedded corpus, extracted; cached under
`.bench/dedupe/`), in one run: wall seconds and peak RSS of each whole process (`os.wait4`), the ratio, and F1 of
the removals against the corpus's ground truth (`benchmarks/dedupe.py`'s scoring).

`curate`: `assay curate CORPUS -o OUT` of this tree against the same command at a reference git revision (checked
out as a worktree under `.bench/`, run with the same interpreter), in one run, on the same embedded corpus:
documents per second of the whole process and the kept counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run(cmd: list[str], cwd: Path = ROOT, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the process tree's largest process as wait4 reports it)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def bench_dedupe(sizes: list[int], seed: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pyarrow.parquet as pq
    from dedupe import prepare, score

    print("| docs | assay dedupe s | datasketch loop s | ratio (loop / assay) | assay F1 | loop F1 | assay peak MB "
          "| loop peak MB |\n|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in sizes:
        texts, truth = prepare(n, seed)
        jsonl = BENCH / "process" / f"docs-{n}-{seed}.jsonl"
        if not jsonl.exists():
            jsonl.parent.mkdir(parents=True, exist_ok=True)
            t = pq.read_table(texts, columns=["id", "text"]).to_pylist()
            jsonl.write_text("".join(json.dumps(r) + "\n" for r in t))
        out = BENCH / "process" / f"assay-dedupe-{n}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resume
        a_wall, a_rss = run([str(Path(sys.executable).parent / "assay"), "dedupe", str(jsonl), "-o", str(out),
                             "--no-progress"])
        kept_a = {i for f in sorted((out / "data").glob("*.parquet")) for i in pq.read_table(f, columns=["id"])
                  .column("id").to_pylist()}
        kept_file = BENCH / "process" / f"loop-kept-{n}.txt"
        l_wall, l_rss = run([sys.executable, str(ROOT / "benchmarks" / "datasketch_loop.py"), str(jsonl),
                             str(kept_file)])
        kept_l = {x for x in kept_file.read_text().split("\n") if x}
        fa, fl = score(kept_a, truth)["f1"], score(kept_l, truth)["f1"]
        print(f"| {pq.ParquetFile(texts).metadata.num_rows} | {a_wall:.1f} | {l_wall:.1f} | "
              f"{l_wall / a_wall:.2f}x | {fa:.3f} | {fl:.3f} | {a_rss:.0f} | {l_rss:.0f} |", flush=True)


def bench_curate(docs: int, seed: int, ref: str, extractor: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    from pipeline.corpus import build_corpus

    corpus = BENCH / "process" / f"corpus-{docs}-{seed}"
    if not corpus.exists():
        build_corpus(corpus, docs=docs, seed=seed, docs_per_file=500, workers=2)
    warcs = sorted(str(p) for p in corpus.glob("*.warc.gz"))
    worktree = BENCH / f"ref-{ref}"
    if not worktree.exists():
        subprocess.check_call(["git", "worktree", "add", "--detach", str(worktree), ref], cwd=ROOT)
    rows = []
    for label, tree in ((f"ref {ref}", worktree), ("this tree", ROOT)):
        out = BENCH / "process" / f"curate-{docs}-{label.replace(' ', '_')}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "pipeline.cli", "curate", *warcs, "-o", str(out), "--no-progress"]
        if extractor:
            cmd += ["--extractor", extractor]
        wall, rss = run(cmd, cwd=tree, env={**ENV, "PYTHONPATH": str(tree)})
        m = json.loads((out / "manifest.json").read_text())
        rows.append((label, wall, m["input"], m["kept"], rss))
    print(f"| tree | wall s | docs | docs/s | kept | peak MB |\n|---|--:|--:|--:|--:|--:|")
    for label, wall, n, kept, rss in rows:
        print(f"| {label} | {wall:.1f} | {n} | {n / wall:.1f} | {kept} | {rss:.0f} |")
    print(f"\nratio this tree / ref (docs/s): {rows[0][1] / rows[1][1]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["dedupe", "curate"])
    ap.add_argument("--docs", type=int, nargs="+", default=[10000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref", default="161f18b", help="curate: the reference git revision")
    ap.add_argument("--extractor", default=None, help="curate: pass --extractor to both trees")
    args = ap.parse_args()
    if args.what == "dedupe":
        bench_dedupe(args.docs, args.seed)
    else:
        bench_curate(args.docs[0], args.seed, args.ref, args.extractor)


if __name__ == "__main__":
    main()
