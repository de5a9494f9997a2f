"""Build the embedded corpus: plan pages, render them, write gzipped WARC files and ``_truth.jsonl``.

Determinism: the plan (kind, language, URL, record id, date, duplicate links of every page) is drawn from
``random.Random(seed)`` in one pass; each page's content and boilerplate come from a generator seeded with
``(seed, page index)``. A file's bytes therefore depend only on the seed and the pages it holds, never on the number
of worker processes. warcio gzips each record with mtime 0.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import multiprocessing
import random
import re
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import junk
from .pages import Site, make_site, page_url, site_domain, paragraphs_html, render_page
from .prose import Article, is_heldout, prose_pool, training_pool

KINDS = ("prose", "near_dup", "exact_dup", "boilerplate", "seo_spam", "lorem_ipsum", "table", "hash_dump", "foreign")
VARIANTS = ("rewrap", "edit", "truncate", "reorder")
# Side files start with "_": input expansion skips them, so `assay curate DIR` reads only the WARC files.
TRUTH_FILE = "_truth.jsonl"
HELDOUT_FILE = "_heldout.jsonl"
INFO_FILE = "_corpus.json"


class CorpusConfig(BaseModel):
    """Mix of page kinds (relative weights, normalised) and the knobs of the near-duplicate edits."""

    model_config = ConfigDict(extra="forbid")

    proportions: dict[str, float] = Field(default_factory=lambda: {
        "prose": 0.55, "near_dup": 0.10, "exact_dup": 0.05, "boilerplate": 0.06, "seo_spam": 0.05,
        "lorem_ipsum": 0.03, "table": 0.05, "hash_dump": 0.04, "foreign": 0.07})
    foreign_langs: list[str] = Field(default_factory=lambda: ["de", "fr", "es", "it", "ru", "zh"])
    near_dup_variants: dict[str, float] = Field(default_factory=lambda: {v: 1.0 for v in VARIANTS})
    edit_rate: float = Field(0.05, gt=0, le=0.5, description="max share of words swapped/deleted/replaced")
    truncate_keep: float = Field(0.7, gt=0, le=1, description="min share of words a truncated copy keeps")
    min_paragraphs: int = Field(4, ge=1)
    max_paragraphs: int = Field(24, ge=1)
    start_date: dt.date = Field(dt.date(2024, 1, 1), description="crawl start; WARC-Date = start + seed days + offset")
    extended_prose: bool = Field(False, description="draw prose from the extended pool (stdlib + the pinned "
                                                    "packages' docstrings, ~11x more unique prose)")
    heldout_articles: float = Field(0.0, ge=0, lt=1, description="share of the pool's articles no page uses; their "
                                                                "text is written to _heldout.jsonl (clean eval text)")

    @model_validator(mode="after")
    def _check(self) -> "CorpusConfig":
        unknown = set(self.proportions) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown page kinds {sorted(unknown)}; known: {list(KINDS)}")
        if any(v < 0 for v in self.proportions.values()) or sum(self.proportions.values()) <= 0:
            raise ValueError("proportions must be >= 0 and not all 0")
        bad = set(self.near_dup_variants) - set(VARIANTS)
        if bad or sum(self.near_dup_variants.values()) <= 0:
            raise ValueError(f"near_dup_variants must weight some of {list(VARIANTS)}")
        if self.proportions.get("foreign", 0) > 0:
            for lang in self.foreign_langs:
                junk.foreign_vocab(lang)  # raises for an unknown language
            if not self.foreign_langs:
                raise ValueError("foreign pages requested but foreign_langs is empty")
        if self.min_paragraphs > self.max_paragraphs:
            raise ValueError("min_paragraphs > max_paragraphs")
        return self


@dataclass
class PagePlan:
    """One page of the corpus; also its row of ``_truth.jsonl`` (``index`` and ``date`` aside)."""

    index: int
    url: str
    record_id: str
    file: str
    kind: str
    lang: str
    cluster: int
    dup_of: str | None
    variant: str | None
    date: str
    orig: int  # index of the page whose content this one copies (itself if none)


def kind_counts(docs: int, proportions: dict[str, float]) -> dict[str, int]:
    """Pages per kind (largest remainder); each kind with weight > 0 gets at least one page when docs allow."""
    weights = {k: proportions.get(k, 0.0) for k in KINDS}
    total = sum(weights.values())
    raw = {k: docs * w / total for k, w in weights.items()}
    counts = {k: int(math.floor(v)) for k, v in raw.items()}
    for k in sorted(KINDS, key=lambda k: (counts[k] - raw[k], KINDS.index(k)))[: docs - sum(counts.values())]:
        counts[k] += 1
    for k in KINDS:  # small corpora: lend one page to empty kinds from the largest
        if weights[k] > 0 and counts[k] == 0:
            big = max(KINDS, key=lambda j: counts[j])
            if counts[big] > 1:
                counts[big] -= 1
                counts[k] = 1
    if counts["near_dup"] + counts["exact_dup"] > 0 and counts["prose"] == 0:
        raise ValueError("duplicate pages need at least one prose page to copy: raise docs or the prose proportion")
    return counts


def _rng(seed: int, index: int, purpose: str) -> random.Random:
    return random.Random(f"assay-corpus:{seed}:{index}:{purpose}")


def file_name(k: int) -> str:
    return f"corpus-{k:05d}.warc.gz"


def plan_corpus(docs: int, seed: int, docs_per_file: int, config: CorpusConfig) -> list[PagePlan]:
    """Every page's kind, URL, record id, date, file and duplicate links, from ``random.Random(seed)``."""
    rng = random.Random(seed)
    counts = kind_counts(docs, config.proportions)
    kinds = [k for k in KINDS for _ in range(counts[k])]
    rng.shuffle(kinds)
    prose_idx = [i for i, k in enumerate(kinds) if k == "prose"]
    variants = list(config.near_dup_variants)
    vweights = [config.near_dup_variants[v] for v in variants]
    start = dt.datetime.combine(config.start_date, dt.time()) + dt.timedelta(days=seed % 3650)  # UTC
    t = 0
    plans: list[PagePlan] = []
    for i, kind in enumerate(kinds):
        t += rng.randint(1, 20)
        orig = rng.choice(prose_idx) if kind in ("near_dup", "exact_dup") else i
        variant = rng.choices(variants, vweights)[0] if kind == "near_dup" else None
        lang = rng.choice(config.foreign_langs) if kind == "foreign" else ("la" if kind == "lorem_ipsum" else "en")
        rid = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
        date = (start + dt.timedelta(seconds=t)).isoformat() + "Z"
        _, domain = site_domain(_rng(seed, i, "site"), lang)  # page_html draws the same site from this stream
        url = page_url(domain, _rng(seed, i, "url"), i)
        plans.append(PagePlan(index=i, url=url, record_id=rid, file=file_name(i // docs_per_file), kind=kind,
                              lang=lang, cluster=orig, dup_of=None, variant=variant, date=date, orig=orig))
    for p in plans:
        if p.orig != p.index:
            p.dup_of = plans[p.orig].url
    return plans


# ------------------------------------------------------------------------------------------------------ content


_SENT = re.compile(r"[.!?][\"')]?(?:\s|$)")


def _sentences(pars: list[str]) -> int:
    return sum(len(_SENT.findall(p)) for p in pars)


def prose_article(seed: int, index: int, cfg: CorpusConfig) -> tuple[str, list[str], list[str]]:
    """Title, paragraphs and sidebar titles of prose page ``index``.

    A short run of consecutive paragraphs from one article (which names the page) followed by paragraphs drawn
    from the whole pool, until the page has its target paragraph count, 60 words and 6 sentences (C4 asks for 5).
    Drawing most paragraphs independently keeps distinct pages far apart (few shared paragraphs), so the only
    near-duplicates are the planned ones.
    """
    rng = _rng(seed, index, "content")
    pool, flat = training_pool(cfg.extended_prose, cfg.heldout_articles)
    target = min(cfg.max_paragraphs, cfg.min_paragraphs + int(rng.expovariate(1 / 5)))
    art: Article = rng.choice(pool)
    run = min(len(art.paragraphs), rng.randint(1, max(1, target // 3)))
    start = rng.randrange(len(art.paragraphs) - run + 1)
    pars = list(art.paragraphs[start:start + run])
    titles = [art.title]
    words, sents = sum(len(p.split()) for p in pars), _sentences(pars)
    for _ in range(200):  # bounded: a tiny pool may never reach the targets
        if len(pars) >= target and words >= 60 and sents >= 6:
            break
        par = flat[int(rng.random() * len(flat))]
        if par not in pars:
            pars.append(par)
            words, sents = words + len(par.split()), sents + _sentences([par])
    head = titles[0]
    prefix = rng.choice(("", "Notes on ", "A guide to ", "Understanding ", "Working with ", "All about "))
    if prefix and head.startswith("The "):
        head = "the " + head[4:]
    title = prefix + head
    title += rng.choice(("", "", " explained", ": a short overview", " in practice"))
    others = [a.title for a in rng.sample(pool, 8)]
    return title, pars, others


def edit_words(rng: random.Random, pars: list[str], rate: float) -> list[str]:
    """Light edits: each word is deleted or swapped with the next one with probability ``rate``."""
    out = []
    for par in pars:
        words = par.split()
        i, new = 0, []
        while i < len(words):
            if rng.random() < rate and len(words) > 3:
                if rng.random() < 0.5 or i + 1 == len(words):  # delete
                    i += 1
                    continue
                new += [words[i + 1], words[i]]  # swap
                i += 2
                continue
            new.append(words[i])
            i += 1
        out.append(" ".join(new))
    return out


def truncate(rng: random.Random, pars: list[str], keep_min: float) -> list[str]:
    """Keep the first ``keep`` share of words (``keep_min`` <= keep < 1), cutting the last paragraph at a word."""
    total = sum(len(p.split()) for p in pars)
    budget = max(1, math.ceil(total * rng.uniform(keep_min, min(1.0, keep_min + 0.25))))
    out = []
    for par in pars:
        words = par.split()
        if budget <= 0:
            break
        out.append(" ".join(words[:budget]) + ("" if len(words) <= budget else " ..."))
        budget -= len(words)
    return out


def _near_dup(plan: PagePlan, seed: int, cfg: CorpusConfig) -> tuple[str, list[str], list[str]]:
    title, pars, others = prose_article(seed, plan.orig, cfg)
    rng = _rng(seed, plan.index, "variant")
    if plan.variant == "edit":
        pars = edit_words(rng, pars, rng.uniform(cfg.edit_rate * 0.4, cfg.edit_rate))
    elif plan.variant == "truncate":
        pars = truncate(rng, pars, cfg.truncate_keep)
    elif plan.variant == "reorder" and len(pars) > 1:
        order = list(range(len(pars)))
        while order == sorted(order):
            rng.shuffle(order)
        pars = [pars[j] for j in order]
    return title, pars, others


def page_html(plan: PagePlan, plans: dict[int, PagePlan] | None, seed: int, cfg: CorpusConfig) -> str:
    """The HTML of one page. An exact duplicate renders its original (``plans`` maps index to plan)."""
    if plan.kind == "exact_dup":
        original = (plans or {}).get(plan.orig)
        if original is None:
            raise KeyError(f"exact_dup page {plan.url}: original page {plan.orig} not in plans")
        return page_html(original, plans, seed, cfg)
    site: Site = make_site(_rng(seed, plan.index, "site"), plan.lang)
    rng = _rng(seed, plan.index, "page")
    kw = ""
    others: list[str] = []
    if plan.kind == "prose":
        title, pars, others = prose_article(seed, plan.index, cfg)
        content = paragraphs_html(pars)
    elif plan.kind == "near_dup":
        title, pars, others = _near_dup(plan, seed, cfg)
        content = paragraphs_html(pars)
    elif plan.kind == "boilerplate":
        others = [a.title for a in rng.sample(training_pool(cfg.extended_prose, cfg.heldout_articles)[0], 12)]
        title, content = junk.boilerplate_content(rng, others)
    elif plan.kind == "seo_spam":
        title, content, kw = junk.seo_spam_content(rng)
    elif plan.kind == "lorem_ipsum":
        title, content = junk.lorem_ipsum_content(rng)
    elif plan.kind == "table":
        title, content = junk.table_content(rng)
    elif plan.kind == "hash_dump":
        title, content = junk.hash_dump_content(rng)
    elif plan.kind == "foreign":
        title, content = junk.foreign_content(rng, plan.lang)
    else:
        raise ValueError(f"page {plan.url}: unknown kind {plan.kind!r}")
    return render_page(site, title, content, rng, sidebar_titles=others, keywords=kw)


# ------------------------------------------------------------------------------------------------------ writing


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(iso: str) -> str:
    t = dt.datetime.fromisoformat(iso.removesuffix("Z"))
    return f"{_DAYS[t.weekday()]}, {t.day:02d} {_MON[t.month - 1]} {t.year} {t:%H:%M:%S} GMT"


def write_warc(path: Path, pages: list[PagePlan], plans: dict[int, PagePlan], seed: int, cfg: CorpusConfig) -> int:
    """Write one gzipped WARC file (a warcinfo record, then one response per page); returns bytes written."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = f"software: assay corpus\nformat: WARC File Format 1.0\nseed: {seed}\nrecords: {len(pages)}\n".encode()
    info_id = f"<urn:uuid:{uuid.UUID(int=_rng(seed, pages[0].index, 'warcinfo').getrandbits(128), version=4)}>"
    writer.write_record(writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info), warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Date": pages[0].date, "WARC-Record-ID": info_id, "WARC-Filename": path.name}))
    for p in pages:
        body = page_html(p, plans, seed, cfg).encode("utf-8")
        http = StatusAndHeaders("200 OK", [
            ("Date", _http_date(p.date)), ("Server", "nginx"), ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        rec = writer.create_warc_record(p.url, "response", payload=io.BytesIO(body), length=len(body),
                                        http_headers=http, warc_headers_dict={
                                            "WARC-Date": p.date, "WARC-Record-ID": p.record_id,
                                            "WARC-Identified-Payload-Type": "text/html"})
        writer.write_record(rec)
    _write_atomic(path, buf.getvalue())
    return buf.tell()


def _write_atomic(path: Path, data: bytes) -> None:
    from pipeline.io import write_bytes_atomic

    write_bytes_atomic(data, path)


def _write_file(args: tuple) -> tuple[str, int]:
    path, pages, plans, seed, cfg = args
    return path.name, write_warc(path, pages, plans, seed, cfg)


def truth_rows(plans: list[PagePlan]) -> list[dict]:
    """Rows of ``_truth.jsonl`` (the join key is ``url``)."""
    keys = ("url", "record_id", "file", "kind", "lang", "cluster", "dup_of", "variant")
    return [{k: getattr(p, k) for k in keys} for p in plans]


def build_corpus(out_dir: Path, docs: int = 3000, seed: int = 0, docs_per_file: int = 1000,
                 config: CorpusConfig | None = None, workers: int = 1) -> dict:
    """Write ``docs`` pages as ``out_dir/corpus-NNNNN.warc.gz`` plus ``_truth.jsonl`` and ``_corpus.json``.

    Returns ``{"docs", "seed", "counts" (kind -> pages), "files", "bytes", "wall_s"}``. Output bytes depend on the
    seed, ``docs``, ``docs_per_file`` and ``config`` only (not on ``workers``).
    """
    t0 = time.perf_counter()
    if docs < 1 or docs_per_file < 1 or workers < 1:
        raise ValueError(f"docs ({docs}), docs_per_file ({docs_per_file}) and workers ({workers}) must be >= 1")
    cfg = config or CorpusConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = plan_corpus(docs, seed, docs_per_file, cfg)
    training_pool(cfg.extended_prose, cfg.heldout_articles)  # computed once here; forked workers inherit it
    by_index = {p.index: p for p in plans}
    groups: dict[str, list[PagePlan]] = {}
    for p in plans:
        groups.setdefault(p.file, []).append(p)
    for stale in out_dir.glob("corpus-*.warc.gz"):
        if stale.name not in groups:
            stale.unlink()
    tasks = []
    for name, pages in groups.items():
        needed = {p.orig for p in pages if p.kind == "exact_dup"}
        sub = {i: by_index[i] for i in needed} if workers > 1 else by_index
        tasks.append((out_dir / name, pages, sub, seed, cfg))
    if workers == 1 or len(tasks) == 1:
        results = [_write_file(t) for t in tasks]
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                                 mp_context=multiprocessing.get_context(method)) as ex:
            results = list(ex.map(_write_file, tasks))
    rows = truth_rows(plans)
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()
    _write_atomic(out_dir / TRUTH_FILE, data)
    if cfg.heldout_articles > 0:
        held = [a for a in prose_pool(cfg.extended_prose) if is_heldout(a, cfg.heldout_articles)]
        rows = [{"id": f"{a.source}#{i}", "title": a.title, "text": "\n\n".join(a.paragraphs[i:i + 8])}
                for a in held for i in range(0, len(a.paragraphs), 8)]
        _write_atomic(out_dir / HELDOUT_FILE,
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    counts = {k: 0 for k in KINDS}
    for p in plans:
        counts[p.kind] += 1
    info = {"docs": docs, "seed": seed, "docs_per_file": docs_per_file, "counts": counts,
            "files": [n for n, _ in results], "config": json.loads(cfg.model_dump_json())}
    _write_atomic(out_dir / INFO_FILE, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    return {"docs": docs, "seed": seed, "counts": counts, "files": [n for n, _ in results],
            "bytes": sum(b for _, b in results), "wall_s": round(time.perf_counter() - t0, 3)}
