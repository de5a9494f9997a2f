"""The dedupe stage on a real Ray cluster: known duplicates, conservation, both component algorithms, worker kill,
resume, incremental mode."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.dedupe import DedupeConfig
from pipeline.dedupe_stage import run_dedupe

pytestmark = pytest.mark.ray

VOCAB = [f"w{i}" for i in range(5000)]


def make_corpus(root: Path, seed: int = 0, n_orig: int = 90, shards: int = 3, prefix: str = "o") -> dict:
    """Originals, exact copies (case/punctuation changed), near copies (2 of 150 words changed), spread over shards.

    Ids: copies sort before their originals ("a.."/"b.." < "o.."), so by the keeper rule the copy is kept.
    Returns {id: (reason, kept id)} for the documents expected to be removed.
    """
    rng = random.Random(seed)
    orig = [" ".join(rng.choices(VOCAB, k=150)) for _ in range(n_orig)]
    rows, truth = [], {}
    for i, t in enumerate(orig):
        rows.append((f"{prefix}{i:04d}", t, rng.random()))
    for i in range(0, n_orig // 6):
        rows.append((f"a{prefix}{i:04d}", t := orig[i].upper() + " !", rng.random()))
        truth[f"{prefix}{i:04d}"] = ("exact_duplicate", f"a{prefix}{i:04d}")
    for i in range(n_orig // 6, n_orig // 3):
        w = orig[i].split()
        for j in rng.sample(range(150), 2):
            w[j] = f"zz{rng.randrange(10**6)}"
        rows.append((f"b{prefix}{i:04d}", " ".join(w), rng.random()))
        truth[f"{prefix}{i:04d}"] = ("near_duplicate", f"b{prefix}{i:04d}")
    rng.shuffle(rows)
    root.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        part = rows[s::shards]
        pq.write_table(pa.table({"id": [r[0] for r in part], "text": [r[1] for r in part],
                                 "url": [f"https://ex.com/{r[0]}" for r in part], "score": [r[2] for r in part]}),
                       root / f"shard{s}.parquet")
    return truth


def read_outputs(out: Path) -> dict:
    res = {}
    for sub in ("data", "rejects"):
        res[sub] = {p.name: pq.read_table(p).to_pylist() for p in sorted((out / sub).glob("*.parquet"))}
    return res


@pytest.fixture(scope="module")
def ray_address(ray_cluster):
    import ray

    ray.shutdown()
    yield ray_cluster.address
    ray.shutdown()


@pytest.fixture(scope="module")
def base_run(ray_address, tmp_path_factory):
    root = tmp_path_factory.mktemp("dedupe")
    truth = make_corpus(root / "in")
    cfg = DedupeConfig(index_out=str(root / "index"))
    manifest = run_dedupe([str(root / "in")], root / "out", cfg, address=ray_address, progress=False)
    return root, truth, manifest, cfg


def test_known_duplicates_and_conservation(base_run):
    root, truth, m, _ = base_run
    out = root / "out"
    assert m["input"] == 90 + 30 and m["kept"] == 90 and m["quarantined"] == 0
    assert m["removed"] == {"exact_duplicate": 15, "near_duplicate": 15}
    assert m["input"] == m["kept"] + sum(m["removed"].values())
    assert m["cluster_size_histogram"] == {"1": 60, "2": 30}
    assert set(m["steps"]) == {"signatures", "buckets", "components", "keepers", "filter"}
    assert m["components_algorithm"] == "union_find" and (m["bands"], m["rows"]) == (14, 8)
    rejects = pq.read_table(out / "rejects").to_pylist()
    got = {r["id"]: (r["reason"], r["duplicate_of"]) for r in rejects}
    assert got == truth
    assert all(isinstance(r["cluster_id"], int) for r in rejects)
    # one kept shard per input shard, input columns passed through, input order kept
    for s in range(3):
        inp = pq.read_table(root / "in" / f"shard{s}.parquet").to_pylist()
        kept = pq.read_table(out / "data" / f"{s:05d}_shard{s}.parquet").to_pylist()
        assert kept == [r for r in inp if r["id"] not in truth]
    assert len(list((out / "stats" / "dedupe").glob("*.json"))) == 3
    assert json.loads((out / "manifest.json").read_text())["kept"] == 90


def test_distributed_components_same_output(base_run, ray_address, tmp_path):
    root, _, m, cfg = base_run
    star_cfg = cfg.model_copy(update={"max_edges_in_memory": 0, "index_out": None})
    m2 = run_dedupe([str(root / "in")], tmp_path / "out", star_cfg, address=ray_address, progress=False)
    assert m2["components_algorithm"] == "star" and m2["steps"]["components"]["rounds"] >= 1
    assert read_outputs(tmp_path / "out") == read_outputs(root / "out")
    a = pq.read_table(root / "out" / "work" / "dedupe" / "components").sort_by("node")
    b = pq.read_table(tmp_path / "out" / "work" / "dedupe" / "components").sort_by("node")
    assert a.select(["node", "label"]).equals(b.select(["node", "label"]))


def test_worker_killed_then_job_resumed(base_run, ray_address, tmp_path):
    root, _, _, cfg = base_run
    cfg = cfg.model_copy(update={"index_out": None})
    out = tmp_path / "out"
    marker = tmp_path / "crashed"
    run_dedupe([str(root / "in")], out, cfg, address=ray_address, progress=False, _crash_marker=str(marker))
    assert marker.exists()  # a worker really died (os._exit) in the signature step, and Ray retried its task
    assert read_outputs(out) == read_outputs(root / "out")

    # now simulate the whole job killed mid-way: later steps' results, one shard's outputs and one signature file
    # are gone; the rerun recomputes exactly those and reuses the rest
    work = out / "work" / "dedupe"
    shutil.rmtree(work / "decisions")
    shutil.rmtree(work / "edges")
    (work / "sigs" / "00001.parquet").unlink()
    for f in ("data/00002_shard2.parquet", "rejects/dedupe-00002_shard2.parquet", "stats/dedupe/00002_shard2.json"):
        (out / f).unlink()
    (out / "manifest.json").unlink()
    kept_sig = (work / "sigs" / "00000.parquet").stat().st_mtime_ns
    kept_stats = (out / "stats" / "dedupe" / "00000_shard0.json").stat().st_mtime_ns
    m = run_dedupe([str(root / "in")], out, cfg, address=ray_address, progress=False)
    assert (work / "sigs" / "00000.parquet").stat().st_mtime_ns == kept_sig  # reused, not recomputed
    assert (out / "stats" / "dedupe" / "00000_shard0.json").stat().st_mtime_ns == kept_stats
    assert (work / "sigs" / "00001.parquet").exists()
    assert read_outputs(out) == read_outputs(root / "out")
    assert m["kept"] == 90 and m["removed"] == {"exact_duplicate": 15, "near_duplicate": 15}
    with pytest.raises(RuntimeError, match="different run"):
        run_dedupe([str(root / "in")], out, cfg.model_copy(update={"threshold": 0.8}), address=ray_address,
                   progress=False)


@pytest.mark.slow
def test_incremental_against_earlier_index(base_run, ray_address, tmp_path):
    root, truth, _, cfg = base_run
    # a new crawl: fresh documents plus copies of documents kept by the first run
    new = tmp_path / "new"
    make_corpus(new, seed=5, n_orig=12, shards=1, prefix="q")
    old_kept = pq.read_table(root / "out" / "data" / "00000_shard0.parquet").slice(0, 3)
    extra = pa.table({"id": ["z1", "z2", "z3"], "text": [t.lower() for t in old_kept.column("text").to_pylist()],
                      "url": ["u1", "u2", "u3"], "score": [0.5, 0.5, 0.5]})
    pq.write_table(extra, new / "shard1.parquet")
    m = run_dedupe([str(new)], tmp_path / "out", cfg.model_copy(update={"index_in": str(root / "index"),
                                                                        "index_out": None}),
                   address=ray_address, progress=False)
    rej = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "rejects").to_pylist()}
    old_ids = old_kept.column("id").to_pylist()
    for z, o in zip(["z1", "z2", "z3"], old_ids):
        assert rej[z]["duplicate_of"] == o and rej[z]["reason"] == "exact_duplicate" and rej[z]["cluster_id"] < 0
    assert m["input"] == 12 + 4 + 3 and m["kept"] == 12 and len(rej) == 7
