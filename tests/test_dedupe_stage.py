"""The dedupe stage: known duplicates, conservation, local and Ray executors giving the same output, both component
algorithms, a killed worker, resume, stale-output refusal, incremental mode, any input format."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import UserError
from pipeline.schema import shard_name
from pipeline.stage import RunContext
from pipeline.stages.dedupe import DedupeJob, run_dedupe

VOCAB = [f"w{i}" for i in range(5000)]
CRASH_DIR = Path(__file__).parent / "crash"


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
        rows.append((f"a{prefix}{i:04d}", orig[i].upper() + " !", rng.random()))
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


def dedupe(inputs, out, ctx=None, **cfg) -> dict:
    job = DedupeJob(inputs=[str(i) for i in inputs], output=str(out), dedupe=cfg)
    return run_dedupe(job, ctx or RunContext(progress=False))


@pytest.fixture(scope="module")
def ray_address(ray_cluster):
    import ray

    ray.shutdown()
    yield ray_cluster.address
    ray.shutdown()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """The local executor (no Ray)."""
    root = tmp_path_factory.mktemp("dedupe")
    truth = make_corpus(root / "in")
    manifest = dedupe([root / "in"], root / "out", index_out=str(root / "index"))
    return root, truth, manifest


def test_known_duplicates_and_conservation(base_run):
    root, truth, m = base_run
    out = root / "out"
    assert m["input"] == 90 + 30 and m["kept"] == 90 and m["quarantined"] == 0
    assert m["removed"] == {"exact_duplicate": 15, "near_duplicate": 15}
    assert m["cluster_size_histogram"] == {"1": 60, "2": 30}
    assert {"signatures", "buckets", "components", "keepers", "filter"} <= set(m["steps"])
    assert m["components_algorithm"] == "union_find" and (m["bands"], m["rows"]) == (14, 8)
    assert m["executor"] == "local"
    rejects = pq.read_table(out / "rejects").to_pylist()
    assert {r["id"]: (r["reason"], r["duplicate_of"]) for r in rejects} == truth
    assert all(isinstance(r["cluster_id"], int) for r in rejects)
    # one kept shard per input shard, input columns passed through, input order kept
    for s in range(3):
        path = root / "in" / f"shard{s}.parquet"
        kept = pq.read_table(out / "data" / f"{shard_name(str(path))}.parquet").to_pylist()
        assert kept == [r for r in pq.read_table(path).to_pylist() if r["id"] not in truth]
    assert len(list((out / "stats" / "dedupe").glob("*.json"))) == 3
    assert json.loads((out / "manifest.json").read_text())["kept"] == 90


@pytest.mark.ray
def test_ray_executor_and_distributed_components_same_output(base_run, ray_address, tmp_path, monkeypatch):
    import pipeline.stages.dedupe as stage

    root, _, _ = base_run
    ctx = RunContext(address=ray_address, progress=False)
    m = dedupe([root / "in"], tmp_path / "ray", ctx)
    assert m["executor"] == "ray" and m["components_algorithm"] == "union_find"
    assert read_outputs(tmp_path / "ray") == read_outputs(root / "out")
    monkeypatch.setattr(stage.plan, "SORT_SHUFFLE_MAX_DOCS", 0)  # the hash shuffle of large jobs
    monkeypatch.setattr(stage.tables, "RANGE_ROWS", 7)           # components and decisions in many node-ranged files
    monkeypatch.setattr(stage.plan, "MAX_SHUFFLE_PIECES", 0.3)   # the buckets grouping split by bands (here in 2)
    m2 = dedupe([root / "in"], tmp_path / "star", ctx, max_edges_in_memory=0)
    assert m2["components_algorithm"] == "star" and m2["steps"]["components"]["rounds"] >= 1
    assert m2["steps"]["buckets"]["groupings"] == 2
    assert read_outputs(tmp_path / "star") == read_outputs(root / "out")
    a = pq.read_table(root / "out" / "work" / "dedupe" / "components").sort_by("node")
    b = pq.read_table(tmp_path / "star" / "work" / "dedupe" / "components").sort_by("node")
    assert a.select(["node", "label"]).equals(b.select(["node", "label"]))
    # node-ranged: every file sorted by node, files over disjoint ranges, and each shard's filter task was given
    # only the decision files its rows can be in
    for table in ("components", "decisions"):
        files = sorted((tmp_path / "star" / "work" / "dedupe" / table).glob("*.parquet"))
        assert len(files) > 3, table
        spans = []
        for f in files:
            nodes = pq.read_table(f, columns=["node"]).column("node").to_numpy()
            assert (np.diff(nodes) > 0).all()
            spans.append((nodes[0], nodes[-1]))
        spans.sort()
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), table
    idx = stage.range_index(tmp_path / "star" / "work" / "dedupe" / "decisions")
    assert len(stage.range_files(idx, 0, 10)) < len(idx[2])


def test_band_spans_split_the_buckets_grouping_only_when_its_shuffle_is_huge():
    """The pieces of one shuffle grow with the square of the corpus; above MAX_SHUFFLE_PIECES the buckets grouping
    runs as g groupings of about 1/g of the bands (the exact key is band -1), each with ~1/g^2 of the pieces."""
    import math

    import pipeline.stages.dedupe as stage
    from filters.dedupe import DedupeConfig

    cfg = DedupeConfig()
    bands, _ = cfg.band_rows()
    assert stage.band_spans(cfg, 700_000) == [(-1, bands, math.ceil(700_000 * (bands + 1) / 250_000))]
    assert len(stage.band_spans(cfg, 10**9, split=False)) == 1
    for docs in (7 * 10**7, 7 * 10**8):
        spans = stage.band_spans(cfg, docs)
        assert 1 < len(spans) <= bands + 1
        assert [s[0] for s in spans[1:]] == [s[1] for s in spans[:-1]] and (spans[0][0], spans[-1][1]) == (-1, bands)
        def pieces(lo, hi, parts):
            return max(1, docs * (hi - lo) * stage.BAND_ROW_BYTES // stage.SHUFFLE_BATCH_BYTES) * parts

        whole = pieces(*stage.band_spans(cfg, docs, split=False)[0])
        assert whole > stage.MAX_SHUFFLE_PIECES
        for lo, hi, parts in spans:
            assert parts * 250_000 >= docs * (hi - lo)  # partitions stay within their row budget
            # about 1/g^2 of the pieces (x4: uneven splits); within the budget where bands allow it (7e7 here)
            assert pieces(lo, hi, parts) <= max(stage.MAX_SHUFFLE_PIECES, 4 * whole / len(spans) ** 2)
            assert docs > 10**8 or pieces(lo, hi, parts) <= stage.MAX_SHUFFLE_PIECES
    assert stage.band_spans(DedupeConfig(near=False), 10**6) == [(-1, 0, 4)]


def test_node_ranged_tables_locally(tmp_path):
    """The local writer and the reader: ranges split the node span evenly; a reader of [lo, hi) opens only the
    files that can hold it and gets exactly those rows."""
    import pipeline.stages.dedupe as stage

    nodes = np.array([-5, -1, 0, 3, 4, 9, 17, 18, 30, 39], np.int64)
    ranges = stage.NodeRanges(-5, 40, stage.RANGE_ROWS * 4)
    assert ranges.n == 4 and list(ranges.of(np.array([-5, 6, 7, 39]))) == [0, 0, 1, 3]
    stage.write_ranges_local({"node": nodes[::-1], "label": nodes[::-1] // 10}, ranges, stage.COMPONENT_SCHEMA,
                             tmp_path / "comp")
    idx = stage.range_index(tmp_path / "comp")
    assert len(idx[2]) == 4 and list(idx[0]) == [-5, 9, 18, 30] and list(idx[1]) == [4, 17, 18, 39]
    files = stage.range_files(idx, 5, 18)
    assert [Path(f).name for f in files] == ["range-000001.parquet"]
    got = stage.read_node_range(files, 5, 18, ["node", "label"])
    assert got.column("node").to_pylist() == [9, 17]
    assert stage.read_node_range(stage.range_files(idx, 100, 200), 100, 200, ["node"]) is None


@pytest.mark.ray
def test_worker_killed_in_signatures_then_job_resumed(base_run, ray_address, tmp_path):
    """A Ray worker dies (SIGKILL-equivalent os._exit, injected from outside production code) in the signature
    step: Ray retries the task and the output is identical. Then the whole job is killed mid-way (simulated by
    deleting later results): the rerun recomputes exactly those."""
    import ray

    root, _, _ = base_run
    marker = tmp_path / "crashed"
    ray.shutdown()
    ray.init(address=ray_address, runtime_env={"env_vars": {
        "PYTHONPATH": f"{CRASH_DIR}{os.pathsep}{Path(__file__).parent.parent}",
        "ASSAY_CRASH_ONCE": f"pipeline.stages.dedupe.signatures:signature_shard:{marker}"}})
    try:
        out = tmp_path / "out"
        dedupe([root / "in"], out, RunContext(address=ray_address, progress=False))
        assert marker.exists()  # a worker really died in the signature step, and Ray retried its task
        assert read_outputs(out) == read_outputs(root / "out")
    finally:
        ray.shutdown()
    work = out / "work" / "dedupe"
    names = sorted(shard_name(str(root / "in" / f"shard{s}.parquet")) for s in range(3))
    shutil.rmtree(work / "decisions")
    shutil.rmtree(work / "edges")
    (work / "sigs" / f"{names[1]}.parquet").unlink()
    for f in (f"data/{names[2]}.parquet", f"rejects/{names[2]}.parquet", f"stats/dedupe/{names[2]}.json"):
        (out / f).unlink()
    (out / "manifest.json").unlink()
    kept_sig = (work / "sigs" / f"{names[0]}.parquet").stat().st_mtime_ns
    kept_stats = (out / "stats" / "dedupe" / f"{names[0]}.json").stat().st_mtime_ns
    m = dedupe([root / "in"], out)
    assert (work / "sigs" / f"{names[0]}.parquet").stat().st_mtime_ns == kept_sig  # reused, not recomputed
    assert (out / "stats" / "dedupe" / f"{names[0]}.json").stat().st_mtime_ns == kept_stats
    assert read_outputs(out) == read_outputs(root / "out")
    assert m["kept"] == 90 and m["removed"] == {"exact_duplicate": 15, "near_duplicate": 15}
    with pytest.raises(UserError, match=r"different run \(dedupe.threshold: 0.72 -> 0.8"):
        dedupe([root / "in"], out, threshold=0.8)
    m3 = run_dedupe(DedupeJob(inputs=[str(root / "in")], output=str(out), dedupe={"threshold": 0.8}),
                    RunContext(progress=False, overwrite=True))
    assert m3["config"]["dedupe"]["threshold"] == 0.8 and m3["input"] == 120


def incremental_run(base_run, tmp_path, ctx=None) -> tuple[Path, dict]:
    """A second crawl deduplicated against the first run's index; checks the matches with the old documents."""
    root, truth, _ = base_run
    # a new crawl: fresh documents plus copies of documents kept by the first run
    new = tmp_path / "new"
    make_corpus(new, seed=5, n_orig=12, shards=1, prefix="q")
    first = sorted((root / "out" / "data").glob("*.parquet"))[0]
    old_kept = pq.read_table(first).slice(0, 3)
    extra = pa.table({"id": ["z1", "z2", "z3"], "text": [t.lower() for t in old_kept.column("text").to_pylist()],
                      "url": ["u1", "u2", "u3"], "score": [0.5, 0.5, 0.5]})
    pq.write_table(extra, new / "shard1.parquet")
    m = dedupe([new], tmp_path / "out", ctx, index_in=str(root / "index"))
    rej = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "rejects").to_pylist()}
    for z, o in zip(["z1", "z2", "z3"], old_kept.column("id").to_pylist()):
        assert rej[z]["duplicate_of"] == o and rej[z]["reason"] == "exact_duplicate" and rej[z]["cluster_id"] < 0
    assert m["input"] == 12 + 4 + 3 and m["kept"] == 12 and len(rej) == 7
    return tmp_path / "out", m


def test_incremental_against_earlier_index(base_run, tmp_path):
    incremental_run(base_run, tmp_path)


@pytest.mark.ray
def test_incremental_against_earlier_index_on_ray(base_run, ray_address, tmp_path):
    """On Ray every signature source (the new shards' signature files and the earlier index's files) is one map task
    of the buckets grouping; the output is the local executor's."""
    local, m = incremental_run(base_run, tmp_path / "local")
    on_ray, mr = incremental_run(base_run, tmp_path / "ray", RunContext(address=ray_address, progress=False))
    assert mr["executor"] == "ray" and m["executor"] == "local"
    # the same rows (shard names carry a hash of the input path, which differs between the two runs)
    assert {k: sorted(map(repr, sum(v.values(), []))) for k, v in read_outputs(on_ray).items()} == \
        {k: sorted(map(repr, sum(v.values(), []))) for k, v in read_outputs(local).items()}


def test_jsonl_input_and_stage_output_folder(base_run, tmp_path):
    """Any reader input: JSONL goes through the ingest pass; a stage output folder means its data/ only."""
    root, truth, m = base_run
    rows = [r for f in sorted((root / "in").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    lines = "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows)
    (tmp_path / "docs.jsonl").write_text(lines + "{broken\n")
    mj = dedupe([tmp_path / "docs.jsonl"], tmp_path / "j")
    assert mj["input"] == 121 and mj["quarantined"] == 1 and mj["kept"] == 90
    assert mj["removed"] == {"exact_duplicate": 15, "near_duplicate": 15}
    # the first run's output folder (data/, rejects/, work/, stats/ ...) as input: only its 90 kept documents
    again = dedupe([root / "out"], tmp_path / "again")
    assert again["input"] == 90 and again["kept"] == 90


def test_empty_inputs_and_all_removed_shards(tmp_path):
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   tmp_path / "empty.parquet")
    m = dedupe([tmp_path / "empty.parquet"], tmp_path / "o1")
    assert (m["input"], m["kept"], m["removed"]) == (0, 0, {})
    assert pq.read_table(tmp_path / "o1" / "data").num_rows == 0
