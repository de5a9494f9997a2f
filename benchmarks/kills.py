"""Worker kills during `assay curate` on a larger corpus: the output must be identical to an undisturbed run.

    nice .venv/bin/python benchmarks/kills.py [--docs 3600] [--docs-per-file 50] [--kills 20] [--executor ray]
    nice .venv/bin/python benchmarks/kills.py --executor local --killer external [--every 0.5]

Builds the embedded corpus (72 WARC files by default), runs `assay curate` (filter -> dedupe) as a whole process
once undisturbed and once with `--kills` SIGKILLs injected from outside production code: `tests/crash/
sitecustomize.py`, loaded through PYTHONPATH, wraps stage functions by name so that their first N calls across all
processes kill their own process (marker files count the kills). The kills are spread over the work (Ray: filter
actors in `DocShardWorker.process` and `write_shard_stats`, dedupe tasks in `signature_shard`, `partition_edges`,
`keepers` and `filter_shard`; local: pool workers in the filter and in dedupe's signature and filter steps, with
the default `runtime.retries`: the local pool re-runs only the shard whose worker died, up to 3 times per shard).
`--killer external` (local) does what an OOM killer does instead: a thread of this script SIGKILLs one of the
driver's pool worker processes every `--every` seconds until `--kills` are done. Then every output file is
compared row by row, with the counts, and a JSON summary printed; the exit status is 1 when anything differs or a
kill did not land.
The fast per-stage version of this runs in CI: tests/test_faults.py.
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
CRASH_DIR = ROOT / "tests" / "crash"
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}

# (module:attr, share of the kills, calls per shard-like unit) per executor. Kills are spread: every N-th call of a
# target is killed, N chosen so that the kills fall over the whole step, and a retried call is not hit again at
# once (Ray re-runs a task at most RAY_TASK_RETRIES times). The grouping steps (buckets, keepers) have one
# partition on these sizes, so their kills hit the same task in a row (at most 2).
TARGETS = {
    "ray": [("pipeline.shard:DocShardWorker.process", 0.3, 1), ("pipeline.runner:write_shard_stats", 0.25, 2),
            ("pipeline.stages.dedupe:signature_shard", 0.15, 1), ("filters.dedupe.kernels:partition_edges", 0.1, 0),
            ("filters.dedupe.kernels:keepers", 0.05, 0), ("pipeline.stages.dedupe:filter_shard", 0.15, 1)],
    "local": [("pipeline.shard:DocShardWorker.process", 0.4, 1), ("pipeline.runner:write_shard_stats", 0.3, 2),
              ("pipeline.stages.dedupe:signature_shard", 0.15, 1), ("pipeline.stages.dedupe:filter_shard", 0.15, 1)],
}


def spread(kills: int, executor: str, shards: int) -> list[tuple[str, int, int]]:
    """(target, kills, every): kills spread over the target's calls (`per` calls per shard; 0: a grouping)."""
    targets = TARGETS[executor]
    counts = [int(kills * share) for _, share, _ in targets]
    for i in range(kills - sum(counts)):
        counts[i % len(counts)] += 1
    plan = []
    for (t, _, per), n in zip(targets, counts):
        if n:
            plan.append((t, n, max(1, (per * shards) // (n + 1)) if per else 1))
    return plan


def run(cmd: list[str], env: dict, during=None) -> dict:
    """Whole process: wall seconds, exit code, peak RSS (MB) of the driver as wait4 reports it. `during(pid)`: run
    in a thread while the process runs."""
    import threading

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if during is not None:
        threading.Thread(target=during, args=(proc.pid,), daemon=True).start()
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    return {"wall_s": round(time.perf_counter() - t0, 1), "rc": os.waitstatus_to_exitcode(status),
            "driver_peak_mb": round(usage.ru_maxrss / 1024), "stderr_tail": err[-1500:]}


def pool_workers(driver: int) -> list[int]:
    """The driver's spawned pool worker processes (its children running multiprocessing's spawn_main)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == driver and b"spawn_main" in (d / "cmdline").read_bytes():
                out.append(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def killer(driver: int, kills: int, every: float, killed: list[int]) -> None:
    """SIGKILL one pool worker of `driver` every `every` seconds (a random one, seeded) until `kills` are done or
    the driver ends."""
    import random
    import signal

    rng = random.Random(0)
    while len(killed) < kills:
        time.sleep(every)
        if not Path(f"/proc/{driver}").exists():
            return
        workers = pool_workers(driver)
        if workers:
            pid = rng.choice(workers)
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3600)
    ap.add_argument("--docs-per-file", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--executor", choices=["ray", "local"], default="ray")
    ap.add_argument("--killer", choices=["injected", "external"], default="injected",
                    help="injected: stage functions kill their own process (tests/crash); external (local): SIGKILL "
                         "a pool worker of the driver every --every seconds")
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--out", default=str(ROOT / ".bench" / "kills"))
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from pipeline.corpus import build_corpus
    from tests.helpers import stage_outputs

    root = Path(args.out)
    corpus = root / f"corpus-{args.docs}-{args.docs_per_file}-{args.seed}"
    if not (corpus / "_corpus.json").exists():
        build_corpus(corpus, docs=args.docs, seed=args.seed, docs_per_file=args.docs_per_file, workers=2)
    warcs = sorted(str(p) for p in corpus.glob("corpus-*.warc.gz"))
    markers = root / "markers"
    shutil.rmtree(markers, ignore_errors=True)
    markers.mkdir(parents=True)
    external = args.killer == "external"
    if external and args.executor != "local":
        ap.error("--killer external kills local pool workers: use --executor local")
    plan = [] if external else spread(args.kills, args.executor, len(warcs))
    faults = [f"kill:{t}:{markers / t.replace(':', '.')}:{n}:{every}" for t, n, every in plan]

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "pipeline.cli", "curate", *warcs, "-o", str(out), "--executor", args.executor,
                "--no-progress"]

    runs, killed = {}, []
    disturbed = {**ENV, "ASSAY_FAULTS": ";".join(faults), "PYTHONPATH": f"{CRASH_DIR}{os.pathsep}{ROOT}"} \
        if faults else ENV
    for label, env in (("undisturbed", ENV), ("killed", disturbed)):
        out = root / label
        shutil.rmtree(out, ignore_errors=True)  # fresh runs, not resumes
        runs[label] = run(cmd(out), env, (lambda pid: killer(pid, args.kills, args.every, killed))
                          if external and label == "killed" else None)
        if runs[label]["rc"] != 0:
            print(json.dumps(runs, indent=1))
            return 1
    landed = {t: len(list(markers.glob(t.replace(":", ".") + ".[0-9]*"))) for t, _, _ in plan}
    if external:
        landed = {"pool workers (external SIGKILL)": len(killed)}
    identical = stage_outputs(root / "undisturbed") == stage_outputs(root / "killed")
    m = json.loads((root / "killed" / "manifest.json").read_text())
    summary = {"executor": args.executor, "docs": m["input"], "files": len(warcs),
               "kills_planned": {t: f"{n} (a kill per {e} calls)" for t, n, e in plan} if plan else
               f"{args.kills} (a pool worker every {args.every} s)",
               "kills_landed": landed, "kills_total": sum(landed.values()), "identical_output": identical,
               "kept": m["kept"], **{f"{k}_wall_s": v["wall_s"] for k, v in runs.items()},
               **{f"{k}_driver_peak_mb": v["driver_peak_mb"] for k, v in runs.items()},
               "load_avg": os.getloadavg()}
    print(json.dumps(summary, indent=1))
    return 0 if identical and sum(landed.values()) == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
