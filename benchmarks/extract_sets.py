"""Real pages with known main text, read from public repositories checked out at pinned commits, and each set's metric.

Nothing here downloads: ``load_sets(DATA)`` reads the checkouts under ``DATA`` (the folder names below); a missing
checkout is reported and skipped. How to lay out ``DATA`` (commits as used for benchmarks/RESULTS.md):

    git clone https://github.com/mozilla/readability DATA/readability                  # ab4027a8b37669745016869a37a504727992b2ba
    git clone https://github.com/adbar/trafilatura DATA/trafilatura                     # e90b0ef51ab026fdb905fb6c5b3c84dd3d784fd5
    git clone https://github.com/Murrough-Foley/web-content-extraction-benchmark DATA/wcxb   # c039d5ee9f5a3a984a0e167e63aacd04e76e78a9
    git clone https://github.com/j-szulc/html-cleaning-dataset-merged DATA/cleaning-merged  # 46e01a04b47051838a228bf23631430b2c9de375
    (then `git -C DATA/NAME checkout COMMIT` in each)

The sets (``SETS``), each with the metric its own authors use (or, where they ship none, the article-extraction
benchmark's 4-gram metric), and whether ``fast`` was tuned on it (``role``):

- ``readability``: mozilla/readability's test pages (``test/test-pages/*/source.html`` + ``expected.html``, the text of
  readability's reviewed output); the unit-test snippets under 10 kB are left out. Metric ``shingle``.
- ``dragnet``: Dragnet's 2012 pages (in cleaning-merged: ``dragnet_data/{input,GoldStandard}``); truth = the text
  before Dragnet's comment separator. Metric ``shingle``.
- ``wcxb_dev`` / ``wcxb_test``: WCXB (Web Content eXtraction Benchmark, 7 labelled page types, LLM-drafted and
  human-reviewed ``main_content``); test pages whose HTML equals a dev page are left out. Metric ``words`` (WCXB's
  ``evaluate.py``: mean over pages of lowercase word-multiset P, R and F1).
- ``l3s_gn1``: L3S-GN1 (Google News 2010, hand-labelled; cleaning-merged's ``page-signal-master``); truth = the
  elements labelled headline, full text or supplemental (``x-nc-sel1..3``), as Bevendorff et al. 2023 read it.
  Metric ``shingle``.
- ``cleaneval``: CleanEval 2007 dev + final (hand-cleaned; ``<p>/<h>/<l>`` markers and the URL line dropped). Metric
  ``shingle``.
- ``cleanportaleval``: CleanPortalEval (70 portal pages, CleanEval format). Metric ``shingle``.
- ``trafilatura``: trafilatura's own evaluation (``tests/evaldata.json``: per page, snippets that must and must not
  be in the output). Metric ``snippets`` (its ``eval_common.py``: whitespace-normalised substring counts, pooled).

``shingle``: the article-extraction benchmark's token-chunk score: ``\\w+`` tokens, overlapping 4-grams with
multiplicity, per page TP/FP/FN normalised to 1, P and R averaged over pages, F1 of the two means.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name -> (checkout folder, metric, role); role "tuned": fast's rules were developed looking at these pages;
# "held-out": only scored, after the rules were fixed.
SETS: dict[str, tuple[str, str, str]] = {
    "readability": ("readability", "shingle", "tuned"),
    "dragnet": ("cleaning-merged", "shingle", "tuned"),
    "wcxb_dev": ("wcxb", "words", "tuned"),
    "wcxb_test": ("wcxb", "words", "held-out"),
    "l3s_gn1": ("cleaning-merged", "shingle", "held-out"),
    "cleaneval": ("cleaning-merged", "shingle", "held-out"),
    "cleanportaleval": ("cleaning-merged", "shingle", "held-out"),
    "trafilatura": ("trafilatura", "snippets", "tuned"),
}
COMMITS = {
    "readability": ("mozilla/readability", "ab4027a8b37669745016869a37a504727992b2ba"),
    "trafilatura": ("adbar/trafilatura", "e90b0ef51ab026fdb905fb6c5b3c84dd3d784fd5"),
    "wcxb": ("Murrough-Foley/web-content-extraction-benchmark", "c039d5ee9f5a3a984a0e167e63aacd04e76e78a9"),
    "cleaning-merged": ("j-szulc/html-cleaning-dataset-merged", "46e01a04b47051838a228bf23631430b2c9de375"),
}


# ------------------------------------------------------------------------------------------------- metrics
_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter:
    toks = _TOKEN.findall(text or "")
    return Counter(tuple(toks[i:i + n]) for i in range(max(1, len(toks) - n + 1)) if toks[i:i + n])


def shingle_row(true: str, pred: str) -> tuple[float, float, float]:
    a, b = shingles(true), shingles(pred)
    tp = sum((a & b).values())
    fp = sum((b - a).values())
    fn = sum((a - b).values())
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def shingle_prf(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(precision, recall, F1) of per-page (tp, fp, fn) rows, as the article-extraction benchmark averages them."""
    ps = [_precision(*r) for r in rows if r[0] + r[1] > 0]
    rs = [_recall(*r) for r in rows if r[0] + r[2] > 0]
    p = statistics.mean(ps) if ps else 0.0
    r = statistics.mean(rs) if rs else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def words_row(true: str, pred: str) -> tuple[float, float, float]:
    """WCXB's word_f1: lowercase \\w+ multisets; (P, R, F1) of one page."""
    ref = Counter(_TOKEN.findall(true.lower()))
    got = Counter(_TOKEN.findall((pred or "").lower()))
    if not ref:
        return (1.0, 1.0, 1.0) if not got else (0.0, 0.0, 0.0)
    if not got:
        return 0.0, 0.0, 0.0
    overlap = sum((got & ref).values())
    p, r = overlap / sum(got.values()), overlap / sum(ref.values())
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def words_prf(rows) -> tuple[float, float, float]:
    return tuple(statistics.mean(r[k] for r in rows) if rows else 0.0 for k in range(3))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def snippets_row(truth: dict, pred: str) -> tuple[int, int, int, int]:
    """trafilatura's count_item: (tp, fp, fn, tn) of the page's with/without snippets."""
    res = _norm(pred or "")
    tp = sum(1 for w in truth["with"] if _norm(w) in res)
    fp = sum(1 for w in truth["without"] if _norm(w) in res)
    return tp, fp, len(truth["with"]) - tp, len(truth["without"]) - fp


def snippets_prf(rows) -> tuple[float, float, float]:
    tp, fp, fn = (sum(r[k] for r in rows) for k in range(3))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * tp / (2 * tp + fp + fn) if tp else 0.0)


METRICS = {"shingle": (shingle_row, shingle_prf), "words": (words_row, words_prf),
           "snippets": (snippets_row, snippets_prf)}


def score(metric: str, pages: list[dict], outs: list[str]) -> tuple[tuple[float, float, float], list]:
    """((P, R, F1), per-page rows) of extractor outputs against the pages' truth."""
    row, prf = METRICS[metric]
    rows = [row(p["truth"], o) for p, o in zip(pages, outs)]
    return prf(rows), rows


def page_f1(metric: str, row) -> float:
    """One page's F1 under a set's metric (for listing the worst pages)."""
    if metric == "words":
        return row[2]
    if metric == "snippets":
        tp, fp, fn, _ = row
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return shingle_prf([row])[2]


# ------------------------------------------------------------------------------------------------- reading
def _decode(raw: bytes) -> str:
    from pipeline.extract import decode_html

    return decode_html(raw)


def gold_html_text(html: str) -> str:
    """Text of a gold-standard HTML fragment, one block a line."""
    from lxml import html as lhtml

    root = lhtml.fromstring(html or "<p></p>")
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    parts = []
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in ("script", "style"):
            continue
        if el.tag in ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "blockquote", "dt", "dd",
                      "figcaption", "section", "article", "table", "ul", "ol"):
            parts.append("\n")
        if el.text:
            parts.append(el.text)
        if el.tail and el is not root:
            parts.append(el.tail)
    return re.sub(r"\n\s*\n+", "\n", "".join(parts)).strip()


def _readability(base: Path) -> list[dict]:
    pages = []
    for case in sorted((base / "test" / "test-pages").iterdir()):
        src, exp = case / "source.html", case / "expected.html"
        if not (src.exists() and exp.exists()) or src.stat().st_size < 10_000:
            continue
        pages.append({"id": case.name, "kind": "article", "raw": src.read_bytes(),
                      "truth": gold_html_text(exp.read_text("utf-8"))})
    return pages


def _dragnet(base: Path) -> list[dict]:
    d = base / "dragnet_data"
    pages = []
    for gold in sorted((d / "GoldStandard").glob("*.txt")):
        src = d / "input" / (gold.stem + ".html")
        if not src.exists():
            continue
        truth = gold.read_bytes().decode("utf-8", "replace").split("!@#$%^&*()  COMMENTS")[0]
        pages.append({"id": gold.stem, "kind": "article", "raw": src.read_bytes(), "truth": truth.strip()})
    return pages


def _wcxb(base: Path, split: str) -> list[dict]:
    def read(sp: str) -> list[dict]:
        out = []
        for gt in sorted((base / sp / "ground-truth").glob("*.json")):
            html = base / sp / "html" / (gt.stem + ".html.gz")
            if not html.exists():
                continue
            data = json.loads(gt.read_text("utf-8"))
            g = data.get("ground_truth") or {}
            if not isinstance(g, dict):
                continue
            pt = ((data.get("_internal") or {}).get("page_type") or {})
            kind = pt.get("primary", "article") if isinstance(pt, dict) else (pt or "article")
            out.append({"id": f"{sp}/{gt.stem}", "kind": "collection" if kind == "category" else kind,
                        "raw": gzip.decompress(html.read_bytes()), "truth": g.get("main_content") or ""})
        return out

    pages = read(split)
    if split == "test":  # test pages that repeat a dev page's HTML are not held out
        dev = {hashlib.sha256(p["raw"]).digest() for p in read("dev")}
        pages = [p for p in pages if hashlib.sha256(p["raw"]).digest() not in dev]
    return pages


_CE_TEXT = re.compile(rb"^\s*<text [^>]*>|</text>\s*$", re.M)


def _cleaneval_like(folder: Path) -> list[dict]:
    pages = []
    for gold in sorted((folder / "GoldStandard").glob("*.txt")):
        src = folder / "input" / (gold.stem + ".html")
        if not src.exists():
            continue
        t = gold.read_bytes().decode("utf-8", "replace")
        t = re.sub(r"^\s*URL:[^\n]*", "", t)
        t = re.sub(r"<(?:p|h|l)>", "\n", t)
        pages.append({"id": f"{folder.name}/{gold.stem}", "kind": "mixed", "raw": _CE_TEXT.sub(b"", src.read_bytes()),
                      "truth": t.strip()})
    return pages


def _l3s(base: Path) -> list[dict]:
    from lxml import html as lhtml

    d = base / "page-signal-master"
    keep = re.compile(r"\bx-nc-sel[123]\b")
    pages = []
    for gold in sorted((d / "GoldStandard").glob("*.txt")):
        src = d / "input" / (gold.stem + ".html")
        if not src.exists():
            continue
        root = lhtml.fromstring(_decode(gold.read_bytes()))
        parts = []
        for el in root.iter():
            if isinstance(el.tag, str) and keep.search(el.get("class") or ""):
                if any(keep.search(a.get("class") or "") for a in el.iterancestors()):
                    continue
                parts.append(" ".join(el.text_content().split()))
        pages.append({"id": gold.stem, "kind": "news", "raw": src.read_bytes(), "truth": "\n".join(parts)})
    return pages


def _trafilatura(base: Path) -> list[dict]:
    data = json.loads((base / "tests" / "evaldata.json").read_text("utf-8"))
    pages = []
    for url in sorted(data):
        item = data[url]
        path = next((p for p in (base / "tests" / "cache" / item["file"], base / "tests" / "eval" / item["file"])
                     if p.is_file()), None)
        if path is None:
            continue
        pages.append({"id": item["file"], "kind": "mixed", "raw": path.read_bytes(),
                      "truth": {"with": item["with"], "without": item["without"]}})
    return pages


def _read(name: str, base: Path) -> list[dict]:
    if name == "readability":
        return _readability(base)
    if name == "dragnet":
        return _dragnet(base)
    if name.startswith("wcxb_"):
        return _wcxb(base, name.split("_", 1)[1])
    if name == "l3s_gn1":
        return _l3s(base)
    if name == "cleaneval":
        return _cleaneval_like(base / "cleaneval-dev") + _cleaneval_like(base / "cleaneval-final")
    if name == "cleanportaleval":
        return _cleaneval_like(base / "CleanPortalEval-master")
    if name == "trafilatura":
        return _trafilatura(base)
    raise KeyError(name)


def load_sets(data: Path, names: list[str] | None = None, limit: int | None = None) -> dict[str, list[dict]]:
    """name -> pages ({id, kind, raw (bytes), html (decoded str), truth}) for every set whose checkout is in `data`."""
    out = {}
    for name in names or list(SETS):
        folder = data / SETS[name][0]
        if not folder.is_dir():
            print(f"(no {folder}: set {name} skipped; see benchmarks/extract_sets.py for how to fetch it)",
                  file=sys.stderr)
            continue
        pages = _read(name, folder)
        if limit:
            pages = pages[:limit]
        for p in pages:
            p["html"] = _decode(p["raw"])
        out[name] = pages
    return out
