"""Benchmark: assay's MinHash dedupe vs datatrove, text-dedup, datasketch and rensa on the same corpus.

Run from the repository root (main venv):

    RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dedupe.py --docs 10000 --seed 0
    RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dedupe.py --docs 100000 --seed 0 --ray

1. Builds the embedded corpus (``pipeline.corpus.build_corpus``) under ``.bench/dedupe/warc-<N>-<seed>/`` and
   extracts each WARC response with resiliparse (``pipeline.extract``). Texts are cached as
   ``.bench/dedupe/docs-<N>-<seed>.parquet`` (id, url, text; empty extractions dropped) and the truth as
   ``truth-<N>-<seed>.parquet`` (id, cluster, dup_of, kind); every tool reads the same Parquet file.
2. Creates the peer venvs under ``.bench/`` if missing (pip only; torch pinned to 2.13.0 if anything wants it):
   datatrove (reuses ``.venv-bench`` when it imports datatrove), text-dedup, rensa + datasketch.
3. Runs each tool in its own subprocess (``benchmarks/dedupe_peers.py <tool>``), one after the other: the runner
   times the dedupe itself (texts already in memory; datatrove: its 4-stage pipeline incl. reading the JSONL) and
   writes the kept ids; peak RSS is the subprocess's ``ru_maxrss`` from ``os.wait4``.
4. Scores kept ids against the truth and prints a markdown table (``--out`` appends it to a file).

Scoring (identical for every tool). A document is a *true duplicate* if its truth ``dup_of`` is set (it copies a page
in the corpus); its *true cluster* is the truth ``cluster``. A removed document is a TP when some other member of its
true cluster is kept, an FP otherwise. FN = a true duplicate that was kept while another member of its true cluster
was kept too. Precision = TP / (TP + FP); recall = TP / (true duplicates whose cluster has another member in the
input); F1 = harmonic mean.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench" / "dedupe"
PEERS = Path(__file__).resolve().parent / "dedupe_peers.py"
TORCH_PIN = "torch==2.13.0"

# tool -> (venv dir relative to ROOT, pip requirements); "main" = this interpreter
VENVS = {
    "assay": ("main", []),
    "assay-verify": ("main", []),
    "datasketch": (".bench/venv-rensa", ["rensa", "datasketch", "pyarrow"]),
    "rensa": (".bench/venv-rensa", ["rensa", "datasketch", "pyarrow"]),
    "datatrove": (".bench/venv-datatrove", ["datatrove[processing]", "spacy", "pyarrow"]),
    "textdedup": (".bench/venv-textdedup", ["text-dedup"]),
}
TOOLS = ["assay", "datatrove", "textdedup", "datasketch", "rensa"]  # also: assay-verify (DedupeConfig(verify=True))
PYTHON_PEERS = ["datatrove", "textdedup", "datasketch"]


# --------------------------------------------------------------------------------------------- corpus
def prepare(docs: int, seed: int) -> tuple[Path, Path]:
    """(texts parquet, truth parquet) for (docs, seed), built once and cached under .bench/dedupe."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    CACHE.mkdir(parents=True, exist_ok=True)
    texts_path, truth_path = CACHE / f"docs-{docs}-{seed}.parquet", CACHE / f"truth-{docs}-{seed}.parquet"
    if texts_path.exists() and truth_path.exists():
        return texts_path, truth_path
    from corpus_texts import extracted_corpus  # (benchmarks/ is on sys.path: scripts run from it)

    cols: dict[str, list] = {"id": [], "url": [], "text": []}
    tcols: dict[str, list] = {"id": [], "cluster": [], "dup_of": [], "kind": []}
    for doc_id, url, text, t in extracted_corpus(CACHE / f"warc-{docs}-{seed}", docs, seed):
        cols["id"].append(doc_id)
        cols["url"].append(url)
        cols["text"].append(text)
        tcols["id"].append(doc_id)
        tcols["cluster"].append(int(t["cluster"]))
        tcols["dup_of"].append(t["dup_of"])
        tcols["kind"].append(t["kind"])
    for path, table in ((texts_path, cols), (truth_path, tcols)):
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table(table), tmp)
        os.replace(tmp, path)
    return texts_path, truth_path


# --------------------------------------------------------------------------------------------- scoring
def score(kept_ids: set[str], truth_path: Path) -> dict:
    """Precision / recall / F1 of the removals against the truth clusters (see the module doc)."""
    import pyarrow.parquet as pq

    t = pq.read_table(truth_path).to_pydict()
    unknown = kept_ids - set(t["id"])
    if unknown:
        raise ValueError(f"{len(unknown)} kept ids not in {truth_path}, e.g. {sorted(unknown)[:3]}")
    kept_in = defaultdict(int)
    size = defaultdict(int)
    for i, c in zip(t["id"], t["cluster"]):
        size[c] += 1
        kept_in[c] += i in kept_ids
    tp = fp = fn = positives = 0
    fp_kinds: dict[str, int] = defaultdict(int)
    fn_kinds: dict[str, int] = defaultdict(int)
    for i, c, dup, kind in zip(t["id"], t["cluster"], t["dup_of"], t["kind"]):
        kept = i in kept_ids
        if not kept:
            if kept_in[c] > 0:
                tp += 1
            else:
                fp += 1
                fp_kinds[kind] += 1
        if dup is not None and size[c] > 1:
            positives += 1
            if kept and kept_in[c] > 1:
                fn += 1
                fn_kinds[kind] += 1
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / positives if positives else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"removed": len(t["id"]) - len(kept_ids), "positives": positives, "tp": tp, "fp": fp, "fn": fn,
            "precision": p, "recall": r, "f1": f1, "fp_by_kind": dict(fp_kinds), "fn_by_kind": dict(fn_kinds)}


# --------------------------------------------------------------------------------------------- venvs + runs
def venv_python(tool: str) -> Path:
    """Interpreter for `tool`, creating its venv under .bench/ when missing."""
    where, reqs = VENVS[tool]
    if where == "main":
        return Path(sys.executable)
    if tool == "datatrove":
        legacy = ROOT / ".venv-bench" / "bin" / "python"  # a colleague's datatrove venv (filters benchmark)
        if legacy.exists() and subprocess.call([str(legacy), "-c", "import datatrove.pipeline.dedup, spacy"],
                                               stderr=subprocess.DEVNULL) == 0:
            return legacy
    py = ROOT / where / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(ROOT / where)])
        cons = ROOT / ".bench" / "constraints-dedupe.txt"
        cons.write_text(TORCH_PIN + "\n")  # anything wanting torch gets the CPU wheel, never CUDA
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", "-c", str(cons), *reqs])
    return py


def run_tool(tool: str, texts_path: Path, work: Path, args) -> dict:
    """Run one tool in a subprocess; returns its timing JSON + peak RSS, or an error."""
    py = venv_python(tool)
    out = work / tool
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(py), str(PEERS), tool, "--input", str(texts_path), "--out", str(out), "--ngram", str(args.ngram),
           "--bands", str(args.bands), "--rows", str(args.rows), "--seed", str(args.seed)]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAYON_NUM_THREADS="1", POLARS_MAX_THREADS="1")
    print("$ " + " ".join(cmd), file=sys.stderr)
    t0 = time.perf_counter()
    with open(out / "log.txt", "w") as log:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
        timer = threading.Timer(args.timeout, proc.kill) if args.timeout else None
        if timer:
            timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        finally:
            if timer:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    total = time.perf_counter() - t0
    res = {"tool": tool, "process_s": total, "peak_rss_mb": ru.ru_maxrss / 1024, "rc": proc.returncode}
    if args.timeout and total >= args.timeout:
        res["error"] = f"killed after the {args.timeout:.0f} s time limit"
        return res
    if proc.returncode != 0:
        tail = (out / "log.txt").read_text()[-1500:]
        res["error"] = tail.strip().splitlines()[-1] if tail.strip() else f"exit {proc.returncode}"
        print(f"{tool} failed (rc {proc.returncode}):\n{tail}", file=sys.stderr)
        return res
    res.update(json.loads((out / "result.json").read_text()))
    return res


def run_ray_stage(texts_path: Path, work: Path, args) -> dict:
    """`pipeline.stages.dedupe.run_dedupe` on the extracted Parquet with a local Ray; wall time + driver peak RSS."""
    code = (
        "import json,resource,sys,time\n"
        "from pathlib import Path\n"
        "from pipeline.stage import RunContext\n"
        "from pipeline.stages.dedupe import DedupeJob, run_dedupe\n"
        "t=time.perf_counter()\n"
        f"m=run_dedupe(DedupeJob(inputs=[{str(texts_path)!r}], output={str(work / 'ray')!r}, dedupe=dict(ngram={args.ngram}, "
        f"bands={args.bands}, rows={args.rows}), runtime=dict(executor='ray')), RunContext(progress=False))\n"
        "print(json.dumps({'seconds': time.perf_counter()-t, 'kept': m['kept'], 'removed': m['removed'],"
        " 'driver_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024}))\n"
    )
    import shutil
    import tempfile

    shutil.rmtree(work / "ray", ignore_errors=True)
    # a private Ray temp dir: never join (or leave a session file for) anyone else's local cluster; no token file
    ray_tmp = tempfile.mkdtemp(prefix="dedupe-ray-")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), RAY_TMPDIR=ray_tmp,
               RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------------------------- report
def table(rows: list[dict], n_docs: int) -> str:
    """Markdown table with docs/s ratios vs the fastest Python peer and vs rensa."""
    ok = [r for r in rows if "error" not in r]
    for r in ok:
        r["docs_s"] = n_docs / r["seconds"] if r["seconds"] > 0 else float("inf")
    py_best = max((r["docs_s"] for r in ok if r["tool"] in PYTHON_PEERS), default=None)
    rensa = next((r["docs_s"] for r in ok if r["tool"] == "rensa"), None)
    lines = ["| tool | dedupe s | docs/s | x fastest Python peer | x rensa | process s | peak RSS MB | removed | "
             "precision | recall | F1 |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['tool']} | failed: {r['error'][:120]} | | | | | | | | | |")
            continue
        s = r["score"]
        vp = f"{r['docs_s'] / py_best:.2f}" if py_best else "-"
        vr = f"{r['docs_s'] / rensa:.2f}" if rensa else "-"
        lines.append(f"| {r['tool']} | {r['seconds']:.1f} | {r['docs_s']:,.0f} | {vp} | {vr} | {r['process_s']:.1f} | "
                     f"{r['peak_rss_mb']:,.0f} | {s['removed']} | {s['precision']:.4f} | {s['recall']:.4f} | "
                     f"{s['f1']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--bands", type=int, default=14)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=None, help="kill a tool after this many seconds")
    ap.add_argument("--ray", action="store_true", help="also time pipeline.stages.dedupe.run_dedupe (local Ray)")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--out", type=Path, help="append the markdown table here")
    args = ap.parse_args()
    texts_path, truth_path = prepare(args.docs, args.seed)
    if args.prepare_only:
        return
    import pyarrow.parquet as pq

    n_docs = pq.read_metadata(texts_path).num_rows
    work = CACHE / f"run-{args.docs}-{args.seed}"
    rows = []
    for tool in args.tools.split(","):
        try:
            r = run_tool(tool, texts_path, work, args)
        except subprocess.CalledProcessError as e:  # venv creation failed
            r = {"tool": tool, "error": f"venv set-up failed: {e}"}
        if "error" not in r:
            kept = set((work / tool / "kept.txt").read_text().split("\n")) - {""}
            r["score"] = score(kept, truth_path)
        rows.append(r)
        print(json.dumps(r), file=sys.stderr)
        (work / "results.json").write_text(json.dumps(rows, indent=1))
    load = os.getloadavg()
    header = (f"### {n_docs:,} documents (corpus --docs {args.docs} --seed {args.seed}), word {args.ngram}-grams, "
              f"{args.bands} bands x {args.rows} rows\n\n{platform.node()}, {os.cpu_count()} cores, load average "
              f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the end, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    md = header + "\n" + table(rows, n_docs) + "\n"
    if args.ray:
        rr = run_ray_stage(texts_path, work, args)
        (work / "ray.json").write_text(json.dumps(rr))
        md += f"\nRay stage (`run_dedupe`, local Ray): {json.dumps(rr)}\n"
    print(md)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(md + "\n")


if __name__ == "__main__":
    main()
