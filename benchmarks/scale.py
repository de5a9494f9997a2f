"""How cost grows with the corpus (issue 11): curate and dedupe as whole processes at 10k, 100k, 1M documents.

    nice .venv/bin/python benchmarks/scale.py --docs 10000 100000 [1000000] [--out .bench/scale]

For each size: the embedded corpus (`pipeline.corpus`, WARC, `--docs-per-file` pages per file so there are many
shards: default 1,000 for 10k and 2,000 above), then, one at a time, as a user runs them on a private local Ray:

- `assay curate CORPUS -o OUT --extractor resiliparse --executor ray` (filter -> dedupe);
- `assay dedupe OUT/work/filter/data -o DOUT --executor ray` (dedupe from extracted Parquet: the filter's shards).

Measured per run: whole-process wall time, documents/s, peak memory of the driver and of the largest Ray worker
(sampled every 0.5 s over the driver's process tree from /proc: RssAnon + RssFile, i.e. without the object store's
shared memory, which every worker maps), the peak summed over all workers, the peak per Ray task title (which step
held it) with a per-process timeline (`<run>.timeline.tsv`: seconds, pid, title, MB), and the disk the run leaves
(the output, and `work/` = intermediates: the filter's shards inside curate, signatures, edges, components,
decisions). Also
the per-step worker-seconds from the manifest (what a projection to more nodes scales from). Prints a Markdown table
and writes `scale.json` next to the runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}


# ------------------------------------------------------------------------------------------------ process tree
def _status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("PPid", "RssAnon", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeMonitor:
    """Peak private memory (RssAnon + RssFile, MB) of every process under `root`, sampled every `every` s."""

    def __init__(self, root: int, every: float = 0.5):
        self.root, self.every = root, every
        self.peak: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.ray_pids: set[int] = set()
        self.sum_workers = 0.0
        self.by_title: dict[str, float] = {}  # a Ray process's title (its task or actor) -> peak MB under it
        self.timeline: list[tuple[float, int, str, float]] = []
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            parents = {}
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    st = _status(int(d.name))
                    if "PPid" in st:
                        parents[int(d.name)] = st
            tree, frontier = {self.root}, [self.root]
            children: dict[int, list[int]] = {}
            for pid, st in parents.items():
                children.setdefault(st["PPid"], []).append(pid)
            while frontier:
                for c in children.get(frontier.pop(), []):
                    if c not in tree:
                        tree.add(c)
                        frontier.append(c)
            workers = 0.0
            for pid in tree:
                st = parents.get(pid)
                if not st:
                    continue
                mb = (st.get("RssAnon", 0) + st.get("RssFile", 0)) / 1024
                name = _cmdline(pid)
                if mb > self.peak.get(pid, -1.0):  # the name it had at its peak (a Ray worker renames itself)
                    self.peak[pid] = mb
                    self.names[pid] = name if not name.startswith("ray::IDLE") else self.names.get(pid, name)
                if name.startswith("ray::"):
                    self.ray_pids.add(pid)
                    workers += mb
                    title = name.split()[0]
                    self.by_title[title] = max(self.by_title.get(title, 0.0), mb)
                    self.timeline.append((round(time.perf_counter() - self._t0, 1), pid, title, round(mb)))
            self.sum_workers = max(self.sum_workers, workers)

    def summary(self) -> dict:
        workers = {p: mb for p, mb in self.peak.items() if p in self.ray_pids
                   and not self.names.get(p, "").startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent"))}
        big = max(workers, key=workers.get) if workers else None
        return {"driver_peak_mb": round(self.peak.get(self.root, 0.0)),
                "largest_worker_peak_mb": round(workers[big]) if big else 0,
                "largest_worker": self.names.get(big, "")[:60] if big else "",
                "workers_sum_peak_mb": round(self.sum_workers), "processes": len(self.peak),
                "peak_mb_by_title": {k: round(v) for k, v in sorted(self.by_title.items(), key=lambda kv: -kv[1])}}


def du_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return round(total / 1024 ** 2, 1)


def run(cmd: list[str], out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resume
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with TreeMonitor(proc.pid) as mon:
        err = proc.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    with open(out.parent / f"{out.name}.timeline.tsv", "w") as f:  # t, pid, title, MB: who held what, when
        f.writelines(f"{t}\t{pid}\t{title}\t{mb}\n" for t, pid, title, mb in mon.timeline)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{err[-3000:]}")
    m = json.loads((out / "manifest.json").read_text())
    steps = {k: round(v["wall_s"], 1) for k, v in m["steps"].items() if isinstance(v, dict) and "wall_s" in v}
    return {"wall_s": round(wall, 1), "docs": m["input"], "kept": m["kept"], "docs_per_s": round(m["input"] / wall, 1),
            "driver_maxrss_mb": round(usage.ru_maxrss / 1024), **mon.summary(), "out_mb": du_mb(out),
            "work_mb": du_mb(out / "work"), "steps_worker_s": steps, "load_avg": [round(x, 1) for x in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--docs-per-file", type=int, default=None, help="default: 1000 up to 10k docs, else 2000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--what", nargs="+", choices=["curate", "dedupe"], default=["curate", "dedupe"])
    ap.add_argument("--out", default=str(ROOT / ".bench" / "scale"))
    ap.add_argument("--keep-corpus", action="store_true", help="keep the corpus (default: deleted after its runs)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from pipeline.corpus import build_corpus

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    results_file = root / "scale.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for n in args.docs:
        per_file = args.docs_per_file or (1000 if n <= 10_000 else 2000)
        corpus = root / f"corpus-{n}"
        if "curate" in args.what and not (corpus / "_corpus.json").exists():
            t0 = time.perf_counter()
            build_corpus(corpus, docs=n, seed=args.seed, docs_per_file=per_file, workers=2)
            print(f"corpus {n}: {time.perf_counter() - t0:.0f} s, {du_mb(corpus)} MB", file=sys.stderr, flush=True)
        warcs = sorted(str(p) for p in corpus.glob("corpus-*.warc.gz"))
        py = [sys.executable, "-m", "pipeline.cli"]
        row = results.setdefault(str(n), {"files": len(warcs), "corpus_mb": du_mb(corpus)})
        if "curate" in args.what:
            row["curate"] = run([*py, "curate", *warcs, "-o", str(root / f"curate-{n}"), "--extractor", "resiliparse",
                                 "--executor", "ray", "--no-progress"], root / f"curate-{n}")
            print(f"curate {n}: {json.dumps(row['curate'])}", file=sys.stderr, flush=True)
        if "dedupe" in args.what:
            data = root / f"curate-{n}" / "work" / "filter" / "data"
            row["dedupe"] = run([*py, "dedupe", str(data), "-o", str(root / f"dedupe-{n}"), "--executor", "ray",
                                 "--no-progress"], root / f"dedupe-{n}")
            print(f"dedupe {n}: {json.dumps(row['dedupe'])}", file=sys.stderr, flush=True)
        results_file.write_text(json.dumps(results, indent=1))
        if not args.keep_corpus:
            shutil.rmtree(corpus, ignore_errors=True)
    print("| stage | docs | shards | wall s | docs/s | driver peak MB | largest worker MB | workers sum MB | "
          "intermediates MB | output MB |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n, row in sorted(results.items(), key=lambda kv: int(kv[0])):
        for stage in ("curate", "dedupe"):
            r = row.get(stage)
            if r:
                print(f"| {stage} | {r['docs']} | {row['files']} | {r['wall_s']} | {r['docs_per_s']} | "
                      f"{r['driver_peak_mb']} | {r['largest_worker_peak_mb']} | {r['workers_sum_peak_mb']} | "
                      f"{r['work_mb']} | {r['out_mb']} |")


if __name__ == "__main__":
    main()
