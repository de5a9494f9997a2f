"""`assay demo` / `make demo`: the whole mission end to end on the embedded corpus, on one laptop (2 CPU cores,
about 18 minutes). Every step is an assay stage run as a user would run it, and resumable: running the demo again
skips what is finished.

1. corpus: the embedded crawl (prose from the extended pool: stdlib + the pinned packages' docstrings), with 5% of
   the pool's articles held out of every page: their text (`_heldout.jsonl`) is the clean evaluation set no arm
   trains on;
2. arms, each a stage output:
   - `raw`: what extraction gives (no language ID, no filter, no dedupe);
   - `deduped`: raw + exact and MinHash dedupe;
   - `filtered`: `assay curate` (language ID, Gopher/C4/FineWeb heuristics, hash dumps, dedupe);
   - `classifier50`, `classifier25`: the filtered arm scored once by a fastText quality classifier (trained on
     reference prose against the raw crawl), then the top 50% and 25% of the global score distribution, re-decided
     from the stored score without re-scoring;
   - `synthetic_mix`: the filtered arm with 20% of its tokens replaced by verified textbook-style generations of the
     procedural teacher seeded by filtered documents;
   - `control`: the positive control: raw's documents interleaved with as many tokens of uniformly random word
     tokens (a planted data multiplier of 0.5 against raw);
3. `ablate` (configs/ablate-demo.yaml): tiny students on `raw`, `filtered` and the control (the other arms are built
   for the user's own configs) over three sizes and four token budgets, second seeds at the smallest and largest sizes,
   evaluated on the held-out text; the joint fit across arms, its checks, each arm's data multiplier against raw
   with its interval, the pairwise decisions and ranking, whether the control recovers its planted value, and the
   report with plots.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "configs" / "ablate-demo.yaml"
HEURISTICS_OFF = {k: {"enabled": False} for k in ("gopher_repetition", "gopher_quality", "c4", "fineweb", "hash_dump")}


def _say(msg: str) -> None:
    print(f"\n[assay demo] {msg}", file=sys.stderr, flush=True)


def run_demo(out: Path, docs: int = 6000, seed: int = 0, address: str | None = None, ablate: bool = True) -> Path:
    from pipeline.config import load_config
    from pipeline.corpus import CorpusConfig, build_corpus
    from pipeline.corpus.build import HELDOUT_FILE
    from pipeline.stage import RunContext
    from pipeline.stages.ablate import AblateConfig, run_ablate
    from pipeline.stages.classify import ClassifyJob, run_classify
    from pipeline.stages.classify_train import TrainClassifierJob, run_train_classifier
    from pipeline.stages.curate import CurateJob, run_curate
    from pipeline.stages.dedupe import DedupeJob, run_dedupe
    from pipeline.stages.filter import FilterJob, run_filter
    from pipeline.stages.generate import GenerateJob, run_generate

    out = Path(out).resolve()
    ctx = RunContext(address=address)
    corpus = out / "corpus"
    if not (corpus / HELDOUT_FILE).exists():
        _say(f"building the embedded corpus: {docs} pages, seed {seed} (the first run parses the extended prose "
             "pool: about a minute)")
        info = build_corpus(corpus, docs=docs, seed=seed, docs_per_file=500, workers=2,
                            config=CorpusConfig(extended_prose=True, heldout_articles=0.05))
        _say(f"corpus: {info['counts']}")

    _say("filtered arm: assay curate (extract, language ID, Gopher/C4/FineWeb, hash dumps, exact + MinHash dedupe)")
    run_curate(CurateJob(inputs=[str(corpus)], output=str(out / "filtered")), ctx)
    _say("raw arm: extraction only")
    run_filter(FilterJob(inputs=[str(corpus)], output=str(out / "raw"),
                         filter={"language": {"enabled": False}, "heuristics": HEURISTICS_OFF}), ctx)
    _say("deduped arm: raw + exact and MinHash dedupe")
    run_dedupe(DedupeJob(inputs=[str(out / "raw")], output=str(out / "deduped")), ctx)

    _say("quality classifier: reference prose (the corpus's own articles) against the raw crawl")
    reference = out / "reference.jsonl"
    if not reference.exists():
        _write_reference(reference)
    run_train_classifier(TrainClassifierJob(positive=[str(reference)], negative=[str(out / "raw")],
                                            output=str(out / "classifier")), ctx)
    run_classify(ClassifyJob(inputs=[str(out / "filtered")], output=str(out / "scored"),
                             classify={"model": str(out / "classifier")}), ctx)
    for share in (50, 25):
        _say(f"classifier arm: the top {share}% of the filtered arm's quality scores (re-decided, not re-scored)")
        run_filter(FilterJob(inputs=[str(out / "scored")], output=str(out / f"classifier{share}"),
                             filter={"from_annotations": True, "quality": {"keep_top": share / 100}}), ctx)

    _say("synthetic data: verified textbook sections and exercises from the procedural teacher, seeded by the "
         "filtered arm")
    run_generate(GenerateJob(inputs=[str(out / "filtered")], output=str(out / "synthetic"),
                             generate={"max_seeds": 40}), ctx)
    if not ablate:
        return out
    cfg = load_config(AblateConfig, DEMO_CONFIG, {"vars": {"demo": str(out)}})
    _say("ablate: tiny students on the configured arms, the joint L(N,D) fit and its checks, data multipliers "
         "against raw, decisions, the report")
    report_dir = run_ablate(cfg, ctx)
    import json

    fit = json.loads((report_dir / "fit" / "fit.json").read_text())
    lead = "\n".join(f"  - {line}" for line in fit.get("answer", []))
    _say(f"done. Report: {report_dir / 'fit' / 'report.md'}; its answer:\n{lead}")
    return report_dir


def _write_reference(path: Path) -> None:
    """Clean reference prose for the classifier's positives: the pool's articles that pages may use (never the
    held-out ones), in documents of up to 6 paragraphs."""
    import json

    from pipeline.corpus.prose import training_pool
    from pipeline.io import write_text_atomic

    arts, _ = training_pool(True, 0.05)
    rows = [{"text": "\n\n".join(a.paragraphs[i:i + 6])} for a in arts for i in range(0, len(a.paragraphs), 6)]
    write_text_atomic("".join(json.dumps(r) + "\n" for r in rows), path)
