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

`dedupe-ref`: `assay dedupe SHARDS/ -o OUT --executor ray` of this tree against a reference revision on many
shards with a large components table: the extracted documents (`--docs`) copied `--copies` times (copy c's ids get a
`#c` suffix and its texts one more word, so every document has near-duplicates in the other copies), 2,000 per
Parquet shard. Whole-process wall time and the per-step seconds of the manifest side by side (the keepers' member
join and the filter read per shard what the components / decisions tables hold for that shard), kept counts.
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


def ref_and_this_tree(ref: str, name: str, args: list[str]):
    """Run `python -m pipeline.cli ARGS -o OUT` at git revision `ref` (a worktree under .bench/) and in this tree,
    one after the other: yields (label, wall s, peak MB, manifest) for each."""
    worktree = BENCH / f"ref-{ref}"
    if not worktree.exists():
        subprocess.check_call(["git", "worktree", "add", "--detach", str(worktree), ref], cwd=ROOT)
    for label, tree in ((f"ref {ref}", worktree), ("this tree", ROOT)):
        out = BENCH / "process" / f"{name}-{label.replace(' ', '_')}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resume
        wall, rss = run([sys.executable, "-m", "pipeline.cli", *args, "-o", str(out), "--no-progress"], cwd=tree,
                        env={**ENV, "PYTHONPATH": str(tree)})
        yield label, wall, rss, json.loads((out / "manifest.json").read_text())


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
    args = ["curate", *warcs] + (["--extractor", extractor] if extractor else [])
    rows = [(label, wall, m["input"], m["kept"], rss)
            for label, wall, rss, m in ref_and_this_tree(ref, f"curate-{docs}", args)]
    print("| tree | wall s | docs | docs/s | kept | peak MB |\n|---|--:|--:|--:|--:|--:|")
    for label, wall, n, kept, rss in rows:
        print(f"| {label} | {wall:.1f} | {n} | {n / wall:.1f} | {kept} | {rss:.0f} |")
    print(f"\nratio this tree / ref (docs/s): {rows[0][1] / rows[1][1]:.2f}x")


def bench_dedupe_ref(docs: int, copies: int, seed: int, ref: str) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dedupe import prepare

    texts, _ = prepare(docs, seed)
    shards = BENCH / "process" / f"copies-{docs}x{copies}-{seed}"
    if not shards.exists():
        base = pq.read_table(texts, columns=["id", "text"])
        tmp = shards.with_name(shards.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ids, txt, k = base.column("id").to_pylist(), base.column("text").to_pylist(), 0
        for c in range(copies):
            rows_id = [f"{i}#{c}" for i in ids]
            rows_text = [t if c == 0 else f"{t} {c}" for t in txt]
            for s0 in range(0, len(ids), 2000):
                pq.write_table(pa.table({"id": rows_id[s0:s0 + 2000], "text": rows_text[s0:s0 + 2000]}),
                               tmp / f"part-{k:05d}.parquet")
                k += 1
        os.replace(tmp, shards)
    n = sum(pq.ParquetFile(p).metadata.num_rows for p in shards.glob("*.parquet"))
    args = ["dedupe", str(shards), "--executor", "ray", "--set", "dedupe.max_edges_in_memory=100000000"]
    rows = [(label, wall, m["kept"], {k: v["wall_s"] for k, v in m["steps"].items()}, rss, m.get("edges"))
            for label, wall, rss, m in ref_and_this_tree(ref, "dedupe-ref", args)]
    steps = ["signatures", "buckets", "components", "keepers", "filter"]
    print(f"{n} documents in {len(list(shards.glob('*.parquet')))} shards\n")
    print("| tree | wall s | " + " | ".join(f"{s} s" for s in steps) + " | kept | largest process MB |\n|---|--:|" +
          "--:|" * len(steps) + "--:|--:|")
    for label, wall, kept, st, rss, _ in rows:
        print(f"| {label} | {wall:.1f} | " + " | ".join(f"{st.get(s, float('nan')):.1f}" for s in steps) +
              f" | {kept} | {rss:.0f} |")
    print(f"\nratio ref / this tree (wall): {rows[0][1] / rows[1][1]:.2f}x; keepers "
          f"{rows[0][3]['keepers'] / rows[1][3]['keepers']:.2f}x; filter "
          f"{rows[0][3]['filter'] / rows[1][3]['filter']:.2f}x; same kept: {rows[0][2] == rows[1][2]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["dedupe", "curate", "dedupe-ref"])
    ap.add_argument("--docs", type=int, nargs="+", default=[10000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref", default="161f18b", help="curate: the reference git revision")
    ap.add_argument("--extractor", default=None, help="curate: pass --extractor to both trees")
    ap.add_argument("--copies", type=int, default=5, help="dedupe-ref: copies of the documents")
    args = ap.parse_args()
    if args.what == "dedupe":
        bench_dedupe(args.docs, args.seed)
    elif args.what == "dedupe-ref":
        bench_dedupe_ref(args.docs[0], args.copies, args.seed, args.ref)
    else:
        bench_curate(args.docs[0], args.seed, args.ref, args.extractor)


if __name__ == "__main__":
    main()
