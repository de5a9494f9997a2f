"""The quality classifier as a stage: trained from reference files, scored through the shard runner (locally and on
a real Ray cluster, same output), thresholded by global percentile across shards, re-decided into arms without
re-scoring, evaluated side by side with the heuristics, and as a curate sub-stage before dedupe (conservation, and
dedupe keeps the highest-scoring copy)."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.manifest import StageCounts, check_conservation
from pipeline.stage import RunContext
from tests.helpers import write_jsonl
from tests.test_quality_classifier import junk_docs, prose_docs

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--set", "dim=32", "--set", "bucket=50000", "--set", "epoch=5"]


def assay(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def manifest(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    check_conservation(StageCounts.from_dict(m))
    return m


def ids(folder: Path) -> list[str]:
    return sorted(i for f in sorted(folder.glob("*.parquet")) for i in pq.read_table(f).column("id").to_pylist())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    rng = random.Random(7)
    write_jsonl(root / "pos.jsonl", [{"text": t} for t in prose_docs(rng, 400)])
    write_jsonl(root / "neg.jsonl", [{"text": t} for _, t in junk_docs(rng, 400)])
    res = assay("classifier", "train", "--positive", str(root / "pos.jsonl"), "--negative", str(root / "neg.jsonl"),
                "-o", str(root / "model"), *SMALL, "--no-progress")
    assert res.returncode == 0, res.stderr
    # documents to score: four shards mixing fresh prose and junk (80 each)
    docs = [{"id": f"p{i:03d}", "text": t} for i, t in enumerate(prose_docs(random.Random(8), 160))]
    docs += [{"id": f"j{i:03d}", "text": t} for i, (_, t) in enumerate(junk_docs(random.Random(9), 160))]
    random.Random(10).shuffle(docs)
    for s in range(4):
        write_jsonl(root / "in" / f"part{s}.jsonl", docs[s::4]) if (root / "in").mkdir(exist_ok=True) is None \
            else None
    return root


def test_trained_model_and_its_records(trained):
    m = json.loads((trained / "model" / "metrics.json").read_text())
    assert m["roc_auc"] > 0.95 and m["n"] > 50  # measured 1.0: prose vs junk is easy for bigrams
    man = json.loads((trained / "model" / "train_manifest.json").read_text())
    assert man["sources"]["positive"] == [str(trained / "pos.jsonl")] and man["seed"] == 0
    assert man["counts"]["hq"]["balanced"] == man["counts"]["cc"]["balanced"]
    # the same command again keeps the finished model (as every stage resumes), so outputs scored with it stay
    # valid; a changed setting is refused like any stale output
    before = (trained / "model" / "model.bin").stat().st_mtime_ns
    cmd = ["classifier", "train", "--positive", str(trained / "pos.jsonl"), "--negative", str(trained / "neg.jsonl"),
           "-o", str(trained / "model"), "--no-progress"]
    res = assay(*cmd, *SMALL)
    assert res.returncode == 0, res.stderr
    assert (trained / "model" / "model.bin").stat().st_mtime_ns == before
    res = assay(*cmd, *SMALL, "--seed", "1")
    assert res.returncode == 2 and "holds the output of a different run" in res.stderr


def test_score_keep_top_across_shards_and_arms_without_rescoring(trained):
    out = trained / "scored"
    res = assay("classifier", "score", str(trained / "in"), "--model", str(trained / "model"), "-o", str(out),
                "--keep-top", "25%", "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["input"] == 320 and m["removed"] == {"quality": m["input"] - m["kept"]}
    # the global 25%: exact up to ties within one of 10,000 bins
    assert abs(m["kept"] - 80) <= 2, m["kept"]
    kept = ids(out / "data")
    assert all(i.startswith("p") for i in kept)
    hist = json.loads((out / "quality_histogram.json").read_text())
    assert hist["n"] == 320 and abs(hist["kept_share"] - 0.25) < 0.01
    assert (out / "quality_histogram.png").exists() and (out / "quality_histogram.svg").exists()
    scores = pq.read_table(out / "data").column("quality_score").to_pylist()
    assert min(scores) >= hist["threshold"]
    # annotate only (no threshold): every document kept with its score; arms at two percentiles from the column
    ann = trained / "annotated"
    assert assay("classifier", "score", str(trained / "in"), "--model", str(trained / "model"), "-o", str(ann),
                 "--no-progress").returncode == 0
    assert manifest(ann)["kept"] == 320
    for share, n in (("10%", 32), ("50%", 160)):
        arm = trained / f"arm{share[:-1]}"
        res = assay("filter", str(ann), "--from-annotations", "--keep-top", share, "-o", str(arm),
                    "--set", "filter.language.enabled=false", "--set", "filter.heuristics.gopher_repetition.enabled"
                    "=false", "--set", "filter.heuristics.gopher_quality.enabled=false", "--set",
                    "filter.heuristics.c4.enabled=false", "--set", "filter.heuristics.fineweb.enabled=false",
                    "--set", "filter.heuristics.hash_dump.enabled=false", "--no-progress")
        assert res.returncode == 0, res.stderr
        assert abs(manifest(arm)["kept"] - n) <= 2
    assert ids(trained / "arm50") == ids(trained / "arm50")
    assert set(ids(trained / "arm10")) <= set(ids(trained / "arm50"))


def test_missing_and_corrupt_model_are_one_line_errors(trained, tmp_path):
    res = assay("classifier", "score", str(trained / "in"), "--model", str(tmp_path / "nope"), "-o",
                str(tmp_path / "o"))
    assert res.returncode == 2 and "nope" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.bin").write_bytes(b"\x00garbage" * 100)
    res = assay("classifier", "score", str(trained / "in"), "--model", str(bad), "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and str(bad / "model.bin") in res.stderr and "Traceback" not in res.stderr


def test_evaluate_side_by_side(trained, tmp_path):
    rng = random.Random(11)
    rows = [{"text": t, "label": 1} for t in prose_docs(rng, 60)] + \
        [{"text": t, "label": 0} for _, t in junk_docs(rng, 60)]
    write_jsonl(tmp_path / "lab.jsonl", rows)
    res = assay("classifier", "evaluate", str(trained / "model"), str(tmp_path / "lab.jsonl"), "-o",
                str(tmp_path / "e.json"))
    assert res.returncode == 0, res.stderr
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["n"] == 120 and e["classifier"]["roc_auc"] > 0.95
    assert {"roc_auc", "accuracy", "precision", "recall"} <= set(e["heuristics"])


@pytest.mark.ray
def test_scoring_on_ray_equals_local(trained, ray_cluster, tmp_path):
    import ray

    from pipeline.stages.classify import ClassifyJob, run_classify

    ray.shutdown()
    job = {"inputs": [str(trained / "in")], "classify": {"model": str(trained / "model"), "keep_top": 0.25}}
    run_classify(ClassifyJob(**job, output=str(tmp_path / "ray")),
                 RunContext(address=ray_cluster.address, progress=False))
    ray.shutdown()
    assert ids(tmp_path / "ray" / "data") == ids(trained / "scored" / "data")
    a = pq.read_table(tmp_path / "ray" / "data").sort_by("id").column("quality_score")
    b = pq.read_table(trained / "scored" / "data").sort_by("id").column("quality_score")
    assert a.equals(b)


def test_curate_with_classifier_before_dedupe_keeps_the_best_copy(trained, tmp_path):
    """Near-duplicate pairs that differ by a junk tail: the classifier scores them apart, and dedupe's keeper rule
    must keep the higher score (the clean copy, larger id), not the smaller id."""
    from pipeline.corpus.prose import prose_pool

    rng = random.Random(12)
    base = ["\n\n".join(a.paragraphs[:4]) for a in prose_pool() if len(a.paragraphs) >= 4][:20]
    tails = [t for _, t in junk_docs(rng, 20)]
    rows = []
    for i, (b, tail) in enumerate(zip(base, tails)):
        rows.append({"id": f"a{i:02d}", "text": b + "\n\n" + " ".join(tail.split()[:6])})  # small id, junk tail
        rows.append({"id": f"z{i:02d}", "text": b})                                       # larger id, clean
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'inputs = ["{tmp_path / "pairs.jsonl"}"]\noutput = "{tmp_path / "cur"}"\n'
                   f'[classify]\nmodel = "{trained / "model"}"\n[dedupe]\nthreshold = 0.5\n'
                   '[filter.heuristics.c4]\nenabled = false\n')
    res = assay("curate", "--config", str(cfg), "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(tmp_path / "cur")
    assert m["chain"] == ["filter", "classify", "dedupe"]
    assert m["stages"]["classify"]["input"] == m["stages"]["filter"]["kept"] == m["stages"]["classify"]["kept"]
    kept = pq.read_table(tmp_path / "cur" / "data").to_pylist()
    pairs_kept = [r["id"] for r in kept]
    dupes = pq.read_table(tmp_path / "cur" / "rejects").to_pylist()
    near = [r for r in dupes if r["reason"] == "near_duplicate"]
    assert len(near) >= 18
    assert all(r["id"].startswith("a") and r["duplicate_of"].startswith("z") for r in near), near[:3]
    assert all("quality_score" in r for r in kept) and len(pairs_kept) == m["kept"]
