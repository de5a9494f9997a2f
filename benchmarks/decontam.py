"""Decontamination on public text-reuse data, through `assay decontaminate`, against the plain "any shared 10-gram"
rule on the same documents in the same run.

    .venv/bin/python benchmarks/decontam.py --pan DATA/pan13-no-obfuscation [--heldout DATA/clough-stevenson]

Data:
- **PAN 2013 text alignment, no-obfuscation part** (a copy of the PAN13 training corpus's ``02-no-obfuscation``
  pairs with their ``susp``/``src`` texts; pin the commit you fetched): suspicious documents (web-text essays) that
  contain verbatim passages of source web pages, with character offsets. Topics are the connected groups of
  suspicious and source documents; in each topic a seeded half of the sources are the **evaluation items** and the
  other half are **independent documents on the same topic** (written by other authors for other pages; a page
  that really quotes another shows up as a false positive of every method alike). Cases: the suspicious document
  whole, and a 250-word excerpt around its copy (the size of a short answer); the same with the copied passage
  lightly edited (10% or 20% of its words substituted, deleted or doubled at random, the operators of PAN's random
  obfuscation; the passage only); the same-topic documents whole and as a 250-word excerpt.
- **Held-out check** (`--heldout`, optional): the Clough & Stevenson corpus of plagiarised short answers (5
  Wikipedia source articles; answers written by cut-and-paste, light revision, heavy revision, or independently).
  No setting was chosen on it: it was run once, after the defaults were fixed on PAN13.

A positive counts as found when `assay decontaminate` removes it (reason ``contaminated``); "right item" also
requires ``decontam_item`` to be one of its sources. Output: a table, ``.bench/decontam/results.json`` and a plot.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench" / "decontam"
sys.path.insert(0, str(ROOT))
from tests.test_decontam import edit  # noqa: E402 - the light-edit operator the tests use
EXCERPT = 250


def excerpt(text: str, start: int, end: int, rng: random.Random, size: int = EXCERPT) -> str:
    """About `size` words of `text` around the characters [start, end) (the span whole if it is longer)."""
    before, span, after = text[:start].split(), text[start:end].split(), text[end:].split()
    room = max(0, size - len(span))
    k = rng.randint(0, room)
    return " ".join(before[max(0, len(before) - k):] + span + after[:room - min(k, len(before))])


def pan13_cases(root: Path, seed: int = 0) -> tuple[dict[str, str], list[dict]]:
    """(evaluation items by id, documents: {id, text, case, positive, sources})."""
    rng = random.Random(seed)
    pairs = []
    for f in sorted((root / "02-no-obfuscation").glob("*.xml")):
        doc = ElementTree.parse(f).getroot()
        for feat in doc.iter("feature"):
            if feat.get("name") == "plagiarism":
                pairs.append((doc.get("reference"), feat.get("source_reference"), int(feat.get("this_offset")),
                              int(feat.get("this_length"))))
    # topics: connected groups of suspicious and source documents
    parent: dict[str, str] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, src, _, _ in pairs:
        parent[find("S:" + s)] = find("R:" + src)
    topics: dict[str, set[str]] = defaultdict(set)
    for _, src, _, _ in pairs:
        topics[find("R:" + src)].add(src)
    items, negatives = set(), set()
    for t in sorted(topics):
        srcs = sorted(topics[t])
        rng.shuffle(srcs)
        if len(srcs) == 1:
            items.add(srcs[0])
            continue
        half = len(srcs) // 2
        negatives.update(srcs[:half])
        items.update(srcs[half:])
    read = lambda sub, name: (root / sub / name).read_text(encoding="utf-8", errors="replace")  # noqa: E731
    item_texts = {src: read("final_txt_files", src) for src in sorted(items)}
    copies: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for s, src, off, length in pairs:
        if src in items:
            copies[s].append((src, off, length))
    vocab = sorted({w for t in list(item_texts.values())[:200] for w in t.split() if w.isalpha()})
    docs = []
    for s in sorted(copies):
        text = read("susp", s)
        spans = sorted(copies[s], key=lambda c: c[1])
        sources = sorted({c[0] for c in spans})
        src0, off0, len0 = spans[0]
        docs.append(dict(id=f"{s}:copy", text=text, case="copy, whole document", positive=True, sources=sources))
        docs.append(dict(id=f"{s}:copy-excerpt", text=excerpt(text, off0, off0 + len0, rng),
                         case=f"copy, {EXCERPT}-word excerpt", positive=True, sources=[src0]))
        for rate in (0.1, 0.2):
            edited, shift, pos = text, 0, []
            for _, off, length in spans:  # edit every copied passage in place
                a, b = off + shift, off + length + shift
                new = edit(edited[a:b], rate, rng, vocab)
                edited = edited[:a] + new + edited[b:]
                pos.append((a, a + len(new)))
                shift += len(new) - length
            tag = f"{int(rate * 100)}% edited"
            docs.append(dict(id=f"{s}:edit{int(rate * 100)}", text=edited, case=f"copy {tag}, whole document",
                             positive=True, sources=sources))
            a, b = pos[0]
            docs.append(dict(id=f"{s}:edit{int(rate * 100)}-excerpt", text=excerpt(edited, a, b, rng),
                             case=f"copy {tag}, {EXCERPT}-word excerpt", positive=True, sources=[src0]))
    for src in sorted(negatives):
        text = read("final_txt_files", src)
        words = text.split()
        docs.append(dict(id=f"{src}:topic", text=text, case="same topic, independent, whole", positive=False,
                         sources=[]))
        k = rng.randint(0, max(0, len(words) - EXCERPT))
        docs.append(dict(id=f"{src}:topic-excerpt", text=" ".join(words[k:k + EXCERPT]),
                         case=f"same topic, independent, {EXCERPT}-word excerpt", positive=False, sources=[]))
    return item_texts, docs


def clough_cases(root: Path) -> tuple[dict[str, str], list[dict]]:
    """The held-out corpus: items = the 5 source articles; documents = the 95 answers by category."""
    data = root / "data" if (root / "data").exists() else root
    rows = [line.split(",") for line in (data / "file_information.csv").read_text().splitlines()[1:] if line]
    read = lambda name: (data / name).read_text(encoding="utf-8", errors="replace")  # noqa: E731
    items = {f"orig_task{t}": read(f"orig_task{t}.txt") for _, t, cat in rows if cat == "orig"}
    names = {"cut": "cut and paste", "light": "light revision", "heavy": "heavy revision", "non": "independent"}
    positive = {"cut": True, "light": True, "non": False, "heavy": None}  # heavy revisions: reported, not scored
    docs = [dict(id=f, text=read(f), case=f"held-out: {names[cat]}", positive=positive[cat],
                 sources=[f"orig_task{t}"]) for f, t, cat in rows if cat in names]
    return items, docs


def ngram_rule(items: dict[str, str], docs: list[dict], n: int = 10) -> dict[str, bool]:
    """The plain rule: a document is contaminated when it shares any word n-gram with any item (same
    normalisation as assay: `filters.dedupe.normalize.words`)."""
    from filters.dedupe.normalize import words
    grams = set()
    for t in items.values():
        w = words(t)
        grams.update(" ".join(w[i:i + n]) for i in range(len(w) - n + 1))
    out = {}
    for d in docs:
        w = words(d["text"])
        out[d["id"]] = any(" ".join(w[i:i + n]) in grams for i in range(len(w) - n + 1))
    return out


def run_assay(items: dict[str, str], docs: list[dict], label: str, extra: list[str]) -> tuple[dict, float]:
    """doc id -> matched item id (removed as contaminated) or None (kept), through `assay decontaminate`."""
    work = BENCH / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "items.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in items.items()))
    (work / "docs.jsonl").write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs))
    cmd = [str(ROOT / ".venv" / "bin" / "assay"), "decontaminate", str(work / "docs.jsonl"), "--against",
           str(work / "items.jsonl"), "-o", str(work / "out"), "--executor", "local", "--no-progress", *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    import pyarrow.parquet as pq
    out = {d["id"]: None for d in docs}
    rej = work / "out" / "rejects"
    if rej.exists() and any(rej.glob("*.parquet")):
        for row in pq.read_table(rej).to_pylist():
            if row.get("reason") == "contaminated":
                out[row["id"]] = row["decontam_item"]
    m = json.loads((work / "out" / "manifest.json").read_text())
    kept = m.get("kept", m.get("counts", {}).get("kept"))
    assert kept is None or kept == sum(v is None for v in out.values()), (kept, "kept count does not match")
    return out, wall


def table(docs: list[dict], ours: dict, rule: dict) -> list[dict]:
    rows = []
    for case in dict.fromkeys(d["case"] for d in docs):
        ds = [d for d in docs if d["case"] == case]
        n = len(ds)
        row = {"case": case, "n": n, "positive": ds[0]["positive"],
               "ours": sum(ours[d["id"]] is not None for d in ds) / n,
               "ours_right_item": sum(ours[d["id"]] in d["sources"] for d in ds) / n,
               "10-gram rule": sum(rule[d["id"]] for d in ds) / n}
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pan", required=True, help="PAN13 text alignment no-obfuscation copy (02-no-obfuscation/, "
                                                 "susp/, final_txt_files/)")
    ap.add_argument("--heldout", help="Clough & Stevenson corpus (file_information.csv and the texts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--assay-args", default="", help="extra options for `assay decontaminate` (e.g. '--ngram 8')")
    args = ap.parse_args()
    sets = {"PAN13": pan13_cases(Path(args.pan), args.seed)}
    if args.heldout:
        sets["held-out"] = clough_cases(Path(args.heldout))
    results = {}
    print("| data | case | n | ours: flagged | ours: right item | any shared 10-gram |\n|---|---|--:|--:|--:|--:|")
    for name, (items, docs) in sets.items():
        ours, wall = run_assay(items, docs, name, args.assay_args.split())
        rule = ngram_rule(items, docs)
        rows = table(docs, ours, rule)
        for r in rows:
            kind = {True: "recall", False: "false positives", None: "flagged"}[r["positive"]]
            print(f"| {name} | {r['case']} ({kind}) | {r['n']} | {r['ours']:.3f} | "
                  f"{r['ours_right_item']:.3f} | {r['10-gram rule']:.3f} |")
        for label, pos in (("all copies and light edits (recall)", True), ("all independent (false positives)",
                                                                             False)):
            ds = [d for d in docs if d["positive"] is pos]
            if ds:
                print(f"| {name} | **{label}** | {len(ds)} | {sum(ours[d['id']] is not None for d in ds) / len(ds):.3f}"
                      f" | {sum(ours[d['id']] in d['sources'] for d in ds) / len(ds):.3f} | "
                      f"{sum(rule[d['id']] for d in ds) / len(ds):.3f} |")
        results[name] = {"items": len(items), "documents": len(docs), "wall_s": round(wall, 1), "rows": rows,
                         "flagged": {d["id"]: ours[d["id"]] for d in docs}}
        print(f"({name}: {len(items)} evaluation items, {len(docs)} documents, `assay decontaminate` {wall:.1f} s)",
              file=sys.stderr)
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "results.json").write_text(json.dumps(results, indent=1))
    plot(results)


def plot(results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [(f"{name}: {r['case']}", r) for name, res in results.items() for r in res["rows"]]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["ours"] for _, r in rows], 0.4, label="assay decontaminate")
    ax.barh([i - 0.2 for i in y], [r["10-gram rule"] for _, r in rows], 0.4, label="any shared 10-gram")
    ax.set_yticks(list(y), [re.sub(r"^(.{70}).+", r"\1...", n) for n, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share flagged (recall for copies, false positives for independent texts)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(BENCH / f"decontam.{ext}")


if __name__ == "__main__":
    main()
