"""Benchmark: assay's heuristic filters vs datatrove 0.10 on the same documents (throughput and agreement).

Set-up: the script builds the peer venv ``.venv-bench`` itself (``benchmarks/bench_venv.py``: datatrove 0.10 cannot
share assay's venv); assay's filters need only numpy and pydantic, which datatrove brings, so the script puts the
repository root on ``sys.path`` there. datatrove
tokenises English with ``SpaCyTokenizer("en")`` = ``spacy.blank("en")`` + sentencizer: rule-based, no model download.

Run from the repository root:

    RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/filters.py --docs 20000 --seed 0

1. In the main venv: build the corpus with ``pipeline.corpus.build_corpus`` and extract the text of each WARC
   response with resiliparse (``pipeline.extract``); texts are cached in ``.bench/filters/docs-<N>-<seed>.jsonl``.
   If ``pipeline.corpus`` is missing, a corpus is generated from the standard library's documentation plus junk.
2. Re-runs itself under ``.venv-bench/bin/python --measure``: for each filter and for the chain, times datatrove's
   ``filter(doc)`` loop and assay's ``annotate`` + ``decide`` on the same texts in one process (one core), and
   counts the documents whose keep/remove decisions agree. Prints a table; ``--out FILE`` also writes it (markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench" / "filters"
BATCH = 1000


# --------------------------------------------------------------------------------------------- corpus (main venv)
def corpus_texts(docs: int, seed: int) -> Path:
    """Path of a JSONL file of ``{"id", "kind", "text"}`` rows, built once per (docs, seed)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"docs-{docs}-{seed}.jsonl"
    if out.exists():
        return out
    try:
        rows = _from_pipeline_corpus(docs, seed)
        origin = "pipeline.corpus + resiliparse"
    except ImportError as e:
        print(f"pipeline.corpus unavailable ({e}); generating a stdlib-docs corpus", file=sys.stderr)
        rows = _from_stdlib_docs(docs, seed)
        origin = "stdlib docs + junk"
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    (CACHE / f"docs-{docs}-{seed}.origin").write_text(origin + "\n")
    return out


def _from_pipeline_corpus(docs: int, seed: int) -> list[dict]:
    from corpus_texts import extracted_corpus  # (benchmarks/ is on sys.path: scripts run from it)

    return [{"id": i, "kind": t["kind"], "text": text}
            for i, _url, text, t in extracted_corpus(CACHE / f"warc-{docs}-{seed}", docs, seed)]


def _from_stdlib_docs(docs: int, seed: int) -> list[dict]:
    """Prose from pydoc topics and module docstrings, plus junk kinds the filters should catch."""
    import hashlib
    import pkgutil
    import pydoc_data.topics as topics

    rng = random.Random(seed)
    paras = [p.strip() for t in topics.topics.values() for p in t.split("\n\n") if len(p.split()) > 8]
    for m in pkgutil.iter_modules():
        try:
            doc = __import__(m.name).__doc__ if m.name.isidentifier() and not m.name.startswith("_") else None
        except Exception:
            doc = None
        if doc:
            paras += [p.strip() for p in doc.split("\n\n") if len(p.split()) > 8]
    rows = []
    for i in range(docs):
        r = rng.random()
        if r < 0.7:
            kind, text = "prose", "\n\n".join(rng.sample(paras, rng.randint(1, 8)))
        elif r < 0.75:
            kind, text = "lorem_ipsum", "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * rng.randint(3, 30)
        elif r < 0.8:
            kind = "hash_dump"
            text = "\n".join(hashlib.md5(f"{seed}:{i}:{k}".encode()).hexdigest() for k in range(rng.randint(5, 60)))
        elif r < 0.9:
            kind = "boilerplate"
            p = rng.choice(paras)
            text = "\n".join([p] + ["Home", "About us", "Contact", "Privacy policy"] * rng.randint(1, 5))
        else:
            kind = "table"
            text = "\n".join(f"{rng.randint(0, 999)} | {rng.random():.3f} | item {k}" for k in range(rng.randint(5, 80)))
        rows.append({"id": f"stdlib:{i}", "kind": kind, "text": text})
    return rows


# ------------------------------------------------------------------------------------------ measure (bench venv)
def _dt_filters():
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_rep": GopherRepetitionFilter(),
        "gopher": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=False),
        "fineweb": FineWebQualityFilter(),
    }


def _assay_steps():
    from filters.c4 import C4Config, C4QualityFilter
    from filters.fineweb import FineWebQualityFilter
    from filters.gopher import GopherQualityFilter, GopherRepetitionFilter

    return {
        "gopher_rep": GopherRepetitionFilter(),
        "gopher": GopherQualityFilter(),
        "c4": C4QualityFilter(C4Config(filter_no_terminal_punct=False)),
        "fineweb": FineWebQualityFilter(),
    }


def _dt_reason(res) -> str | None:
    if res is True:
        return None
    if isinstance(res, tuple):
        return res[1] or "removed"
    return "removed"


def run_datatrove(filters: list, texts: list[str]) -> tuple[list[str | None], float, float, list[str]]:
    """Sequential datatrove semantics: first failing filter's reason; C4 rewrites the text for later filters."""
    from datatrove.data import Document

    reasons: list[str | None] = []
    out_texts: list[str] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        reason = None
        for f in filters:
            reason = _dt_reason(f.filter(doc))
            if reason is not None:
                reason = f"{f.name}:{reason}"
                break
        reasons.append(reason)
        out_texts.append(doc.text)
    return reasons, time.perf_counter() - w0, time.process_time() - c0, out_texts


def run_assay(steps: list, texts: list[str], annotate_all: bool) -> tuple[list[str | None], float, float]:
    from filters.base import apply_steps
    from filters.text import view

    view.cache_clear()
    reasons: list[str | None] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for s in range(0, len(texts), BATCH):
        _, r, _ = apply_steps(texts[s : s + BATCH], steps, annotate_all=annotate_all)
        reasons.extend(r.tolist())
    return reasons, time.perf_counter() - w0, time.process_time() - c0


def measure(path: Path, out: Path | None, limit: int | None) -> None:
    sys.path.insert(0, str(ROOT))
    import importlib.metadata  # noqa: F401  (datatrove's dependency check uses it without importing it)

    import datatrove
    import spacy

    rows = [json.loads(line) for line in open(path)]
    if limit:
        rows = rows[:limit]
    texts = [r["text"] for r in rows]
    kinds = [r.get("kind", "?") for r in rows]
    n = len(texts)
    dt = _dt_filters()
    ours = _assay_steps()
    # warm-up: spaCy pipeline construction and regex compilation are not timed
    run_datatrove(list(dt.values()), texts[:20])
    run_assay(list(ours.values()), texts[:20], True)

    table = []
    disagreements = []
    names = list(dt)
    for name in names + ["chain"]:
        dt_f = list(dt.values()) if name == "chain" else [dt[name]]
        our_s = list(ours.values()) if name == "chain" else [ours[name]]
        d_r, d_wall, d_cpu, _ = run_datatrove(dt_f, texts)
        a_r, a_wall, a_cpu = run_assay(our_s, texts, annotate_all=False)
        _, a_wall_all, a_cpu_all = run_assay(our_s, texts, annotate_all=True)
        agree = sum((a is None) == (d is None) for a, d in zip(a_r, d_r))
        for i, (a, d) in enumerate(zip(a_r, d_r)):
            if (a is None) != (d is None) and len(disagreements) < 400:
                disagreements.append({"filter": name, "i": i, "kind": kinds[i], "assay": a, "datatrove": d,
                                      "text": texts[i][:3000]})
        removed_d = sum(d is not None for d in d_r)
        removed_a = sum(a is not None for a in a_r)
        table.append({
            "filter": name, "docs": n,
            "dt_docs_s": n / d_cpu, "assay_docs_s": n / a_cpu, "assay_all_docs_s": n / a_cpu_all,
            "speedup": d_cpu / a_cpu, "agree": agree / n,
            "dt_removed": removed_d / n, "assay_removed": removed_a / n,
            "dt_wall": d_wall, "assay_wall": a_wall,
        })
        print(_fmt_row(table[-1]), flush=True)
    header = (f"datatrove {datatrove.__version__ if hasattr(datatrove, '__version__') else '0.10'}, "
              f"spaCy {spacy.__version__}, python {sys.version.split()[0]}, {n} docs from {path.name}")
    md = _markdown(table, header)
    print(md)
    if out:
        out.write_text(md)
    dis_path = CACHE / "disagreements.jsonl"
    with open(dis_path, "w") as fh:
        for d in disagreements:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"disagreeing documents (first 400): {dis_path}")


def _fmt_row(r: dict) -> str:
    return (f"{r['filter']:<11} datatrove {r['dt_docs_s']:8.0f} docs/s  assay {r['assay_docs_s']:8.0f} docs/s  "
            f"x{r['speedup']:.2f}  agree {100 * r['agree']:.2f}%  removed dt {100 * r['dt_removed']:.1f}% "
            f"assay {100 * r['assay_removed']:.1f}%")


def _markdown(table: list[dict], header: str) -> str:
    lines = [
        f"{header}. docs/s per core = documents / CPU seconds of the single benchmark process.",
        "",
        "| filter | datatrove docs/s | assay docs/s | ratio | assay docs/s (annotate all) | agreement | removed datatrove | removed assay |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in table:
        lines.append(
            f"| {r['filter']} | {r['dt_docs_s']:.0f} | {r['assay_docs_s']:.0f} | {r['speedup']:.2f}x | "
            f"{r['assay_all_docs_s']:.0f} | {100 * r['agree']:.2f}% | {100 * r['dt_removed']:.1f}% | "
            f"{100 * r['assay_removed']:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="measure only the first N texts")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.measure:
        measure(args.measure, args.out, args.limit)
        return
    sys.path.insert(0, str(ROOT))
    from bench_venv import ensure_bench_venv  # (benchmarks/ is on sys.path: scripts run from it)

    path = corpus_texts(args.docs, args.seed)
    py = ensure_bench_venv()
    cmd = [str(py), str(Path(__file__).resolve()), "--measure", str(path)]
    if args.out:
        cmd += ["--out", str(args.out)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    sys.exit(subprocess.call(cmd, cwd=str(ROOT)))


if __name__ == "__main__":
    main()
