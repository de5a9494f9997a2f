"""Faults: the no-progress watchdog, and workers killed (SIGKILL) in every stage.

Faults come from outside production code: `tests/crash/sitecustomize.py`, loaded through PYTHONPATH by the
processes that do a stage's work (the local pool's spawned workers inherit this process's environment, Ray workers
get it through the job's runtime_env, a driver run as a subprocess through its environment), wraps a stage function
by name so that its first N calls SIGKILL their process or never return. Every kill test compares the output with
an undisturbed run of the same stage: the same files holding the same rows in the same order in data/, rejects/ and
quarantine/, and the same counts.

Where the kills land: filter -> `write_shard_stats` in a pool worker / Ray actor (the shard's data already written,
its stats not: a half-finished shard); classifier scoring -> `FastTextQuality.annotate` (mid-shard); dedupe ->
`signature_shard` and `filter_shard` (pool workers, Ray tasks), `edges_local`, `memory_components` and
`keepers_local` (locally these run in the driver: the driver is killed and the same command rerun), and on Ray
`partition_edges` (buckets), `star_round` (components) and `keepers` (Ray Data tasks); generation ->
`GenerateWorker._write` (completions done, nothing written) in a pool worker / Ray actor.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.stage import RunContext
from tests.helpers import stage_outputs

REPO = Path(__file__).resolve().parent.parent
CRASH_DIR = Path(__file__).parent / "crash"
CTX = RunContext(progress=False)


# ------------------------------------------------------------------------------------------------ helpers
def fault(action: str, target: str, marker: Path, times: int = 1, match: str = "") -> str:
    """One ASSAY_FAULTS entry: `target` is "module:attr" (attr may be Class.method); `match`: only calls whose
    arguments contain it."""
    return f"{action}:{target}:{marker}:{times}" + (f":1:{match}" if match else "")


def faults_env(*faults: str) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(CRASH_DIR), str(REPO)]), "ASSAY_FAULTS": ";".join(faults),
            "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def hits(marker: Path) -> list[int]:
    """Pids the fault hit (one marker file per hit)."""
    return [int(p.read_text()) for p in sorted(marker.parent.glob(marker.name + ".[0-9]*"))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_dead(pid: int, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    return not alive(pid)


def outputs(out: Path) -> dict:
    return stage_outputs(out, strip_path_hashes=True)


@contextlib.contextmanager
def local_faults(monkeypatch, *faults: str):
    """Faults in the processes this one spawns (the local pool's workers)."""
    with monkeypatch.context() as mp:
        for k, v in faults_env(*faults).items():
            mp.setenv(k, v)
        yield


@contextlib.contextmanager
def ray_faults(address: str, *faults: str):
    """A driver connected to the test cluster whose workers load the faults."""
    import ray

    ray.shutdown()
    ray.init(address=address, runtime_env={"env_vars": faults_env(*faults)}, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def filter_job(inputs, out: Path, workers: int = 2, **runtime):
    from pipeline.stages.filter import FilterJob

    return FilterJob(inputs=[str(i) for i in inputs], output=str(out), resources={"workers": workers},
                     runtime={"executor": "local", **runtime})


def dedupe_job(inputs, out: Path, dedupe: dict | None = None, **runtime):
    from pipeline.stages.dedupe import DedupeJob

    return DedupeJob(inputs=[str(i) for i in inputs], output=str(out), resources={"workers": 2},
                     runtime={"executor": "local", **runtime}, dedupe=dedupe or {})


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    from pipeline.corpus import build_corpus

    root = tmp_path_factory.mktemp("faults-corpus")
    build_corpus(root, docs=240, seed=3, docs_per_file=60)
    return sorted(root.glob("corpus-*.warc.gz"))


@pytest.fixture(scope="module")
def filtered(corpus, tmp_path_factory) -> Path:
    """The undisturbed filter run (local pool)."""
    from pipeline.stages.filter import run_filter

    out = tmp_path_factory.mktemp("faults-filter") / "out"
    run_filter(filter_job(corpus, out), CTX)
    return out


@pytest.fixture(scope="module")
def deduped(filtered, tmp_path_factory) -> Path:
    """The undisturbed dedupe run (local) over the filter's four shards."""
    from pipeline.stages.dedupe import run_dedupe

    out = tmp_path_factory.mktemp("faults-dedupe") / "out"
    m = run_dedupe(dedupe_job([filtered / "data"], out), CTX)
    assert m["removed"].get("exact_duplicate") and m["removed"].get("near_duplicate")
    return out


@pytest.fixture(scope="module")
def ray_address(ray_cluster):
    import ray

    ray.shutdown()
    yield ray_cluster.address
    ray.shutdown()


# ------------------------------------------------------------------------------------------------ watchdog
WATCHDOG = (r"^{label}: no progress for {s} s \({done} of {total} {unit} done, [^)]*\); still running: "
            r"{name} \({path}, running \d+ s in pid (\d+) on [^)]+\); stopped and killed the stuck worker\(s\)\. "
            r"Rerun the same command to resume, or raise runtime\.watchdog_s \(now {s}\) if {unit} this slow are "
            r"expected$")


def test_watchdog_kills_a_stuck_pool_worker_and_the_rerun_resumes(corpus, filtered, tmp_path, monkeypatch):
    """A pool worker stuck for good (signals blocked, like a native call): after 3 s without a finished shard the
    run stops with one line naming the stage, the shard, its file and the progress; the worker is killed; the same
    command then finishes only that shard, identically."""
    from pipeline.stages.filter import run_filter

    marker, out = tmp_path / "stuck", tmp_path / "out"
    t0 = time.perf_counter()
    with local_faults(monkeypatch, fault("stuck", "pipeline.shard:DocShardWorker.process", marker)):
        with pytest.raises(UserError) as err:
            run_filter(filter_job(corpus, out, watchdog_s=3), CTX)
    assert time.perf_counter() - t0 < 60
    [pid] = hits(marker)
    m = re.match(WATCHDOG.format(label="filter", s=3, done=3, total=4, unit="shards", name=r"corpus-0000\d-\w{8}",
                                 path=r"/\S+/corpus-0000\d\.warc\.gz"), str(err.value))
    assert m, str(err.value)
    assert int(m.group(1)) == pid and not alive(pid)
    done = {p.name: p.stat().st_mtime_ns for p in (out / "stats" / "filter").glob("*.json")}
    assert len(done) == 3
    run_filter(filter_job(corpus, out, watchdog_s=3), CTX)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "stats" / "filter").glob("*.json")
            if p.name in done} == done  # finished shards were not redone
    assert outputs(out) == outputs(filtered)
    # the run's short limit ended with the run: a later run in this process (a library caller, the next test) that
    # does not set its own gets the default, not 3 s (a leaked limit once ended a CI test session mid-run)
    from pipeline.watchdog import DEFAULT_WATCHDOG_S, Watchdog

    assert Watchdog("next", 1).seconds == DEFAULT_WATCHDOG_S


def test_watchdog_interrupts_a_stuck_call_in_this_process(corpus, tmp_path, monkeypatch):
    """One worker (this process): the stuck call is interrupted and the run stops with the same message."""
    from pipeline.shard import DocShardWorker
    from pipeline.stages.filter import run_filter

    orig = DocShardWorker.process

    def process(self, path, shard):
        if path.endswith("corpus-00001.warc.gz"):
            while True:
                time.sleep(3600)
        return orig(self, path, shard)

    monkeypatch.setattr(DocShardWorker, "process", process)
    with pytest.raises(UserError) as err:
        run_filter(filter_job(corpus, tmp_path / "out", workers=1, watchdog_s=2), CTX)
    m = re.match(WATCHDOG.format(label="filter", s=2, done=1, total=4, unit="shards", name=r"corpus-00001-\w{8}",
                                 path=r"/\S+/corpus-00001\.warc\.gz"), str(err.value))
    assert m and int(m.group(1)) == os.getpid(), str(err.value)


def test_watchdog_ends_the_process_when_a_native_call_never_returns(corpus, tmp_path):
    """In-process work stuck where no signal reaches it: the CLI prints the one line and exits 2, not hanging."""
    env = {**os.environ, **faults_env(fault("stuck", "pipeline.shard:DocShardWorker.process", tmp_path / "m"))}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "filter", *map(str, corpus), "-o", str(tmp_path / "o"),
                          "--set", "resources.workers=1", "--set", "runtime.watchdog_s=2", "--executor", "local",
                          "--no-progress"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert time.perf_counter() - t0 < 60
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: filter: no progress for 2 s (0 of 4 shards done") and \
        "still running: corpus-00000-" in last and last.endswith("(a native call did not return: process ended)")


def test_watchdog_on_local_tasks(filtered, tmp_path, monkeypatch):
    """map_tasks (dedupe's signature step) on the local pool."""
    from pipeline.stages.dedupe import run_dedupe

    marker = tmp_path / "hang"
    with local_faults(monkeypatch, fault("hang", "pipeline.stages.dedupe:signature_shard", marker)):
        with pytest.raises(UserError) as err:
            run_dedupe(dedupe_job([filtered / "data"], tmp_path / "out", watchdog_s=3), CTX)
    m = re.match(WATCHDOG.format(label="dedupe: signatures", s=3, done=3, total=4, unit="tasks",
                                 name=r"corpus-0000\d-\w{8}\.parquet", path=r"/\S+/data/corpus-0000\d-\w{8}\.parquet"),
                 str(err.value))
    assert m, str(err.value)
    assert not alive(hits(marker)[0])


@pytest.mark.ray
def test_watchdog_on_ray_kills_the_stuck_actor_and_task(corpus, filtered, ray_address, tmp_path):
    """On Ray: a shard stuck in an actor (run_shards) and a stuck task (map_tasks): the run stops with the message
    and Ray Data's execution is shut down with force, so the stuck processes are killed."""
    from pipeline.stages.dedupe import run_dedupe
    from pipeline.stages.filter import run_filter

    m1, m2 = tmp_path / "actor", tmp_path / "task"
    ctx = RunContext(address=ray_address, progress=False)
    with ray_faults(ray_address, fault("hang", "pipeline.shard:DocShardWorker.process", m1),
                    fault("hang", "pipeline.stages.dedupe:signature_shard", m2)):
        with pytest.raises(UserError) as err:
            run_filter(filter_job(corpus, tmp_path / "f", executor="ray", watchdog_s=10), ctx)
        m = re.match(WATCHDOG.format(label="filter", s=10, done=r"\d", total=4, unit="shards",
                                     name=r"corpus-0000\d-\w{8}", path=r"/\S+/corpus-0000\d\.warc\.gz"),
                     str(err.value))
        assert m and int(m.group(1)) == hits(m1)[0], str(err.value)
        assert wait_dead(hits(m1)[0]), "the stuck actor was not killed"
        with pytest.raises(UserError) as err:
            run_dedupe(dedupe_job([filtered / "data"], tmp_path / "d", executor="ray", watchdog_s=10), ctx)
        m = re.match(WATCHDOG.format(label="dedupe: signatures", s=10, done=r"\d", total=4, unit="tasks",
                                     name=r"corpus-0000\d-\w{8}\.parquet",
                                     path=r"/\S+/data/corpus-0000\d-\w{8}\.parquet"), str(err.value))
        assert m and int(m.group(1)) == hits(m2)[0], str(err.value)
        assert wait_dead(hits(m2)[0]), "the stuck task's worker was not killed"


# ------------------------------------------------------------------------------------------------ kills: filter
def test_filter_pool_workers_killed(corpus, filtered, tmp_path, monkeypatch):
    from pipeline.stages.filter import run_filter

    marker = tmp_path / "kill"
    with local_faults(monkeypatch, fault("kill", "pipeline.runner:write_shard_stats", marker, times=2)):
        run_filter(filter_job(corpus, tmp_path / "out"), CTX)
    assert len(hits(marker)) == 2
    assert outputs(tmp_path / "out") == outputs(filtered)


def test_local_pool_reruns_only_the_dead_shard_and_quarantines_a_poison_shard(corpus, filtered, tmp_path,
                                                                              monkeypatch):
    """Issue 18.3: a worker killed on a shard is replaced and only that shard re-run; a shard that kills its worker
    retries + 1 times (here 3) is quarantined as a poison shard (a named reason in the manifest) and the other
    shards finish exactly as an undisturbed run; a kill on another shard is re-run once and changes nothing."""
    import pyarrow.parquet as pq

    from pipeline.stages.filter import run_filter

    poison, once, out = tmp_path / "poison", tmp_path / "once", tmp_path / "out"
    with local_faults(monkeypatch, fault("kill", "pipeline.shard:DocShardWorker.process", poison, 10, "corpus-00001"),
                      fault("kill", "pipeline.runner:write_shard_stats", once, 1, "corpus-00002")):
        m = run_filter(filter_job(corpus, out, retries=2), CTX)
    assert len(hits(poison)) == 3 and len(hits(once)) == 1
    assert m["quarantined_by_reason"].get("poison_shard") == 1 and m["poison_shards"] == [str(corpus[1])]
    q = [r for f in sorted((out / "quarantine").glob("*.parquet")) for r in pq.read_table(f).to_pylist()
         if r["reason"] == "poison_shard"]
    assert len(q) == 1 and q[0]["file"] == str(corpus[1]) and "died 3 times" in q[0]["error"]
    got, want = outputs(out), outputs(filtered)
    for sub in ("data", "rejects"):
        assert {k: v for k, v in got[sub].items() if "corpus-00001" not in k} == \
            {k: v for k, v in want[sub].items() if "corpus-00001" not in k}
        assert not any("corpus-00001" in k for k in got[sub])


def test_local_pool_workers_dying_while_setting_up_are_not_the_shards_fault(corpus, filtered, tmp_path, monkeypatch):
    """A worker that dies while it sets up (here in the filter's worker factory, where its models load) has run no
    shard: with retries 0, three such deaths leave the output exactly as an undisturbed run (no poison shard); a set-up
    that always dies fails the run with one line after 4 x (retries + 1) deaths per worker slot in a row, instead of
    quarantining every shard as a poison one."""
    from pipeline.stages.filter import run_filter

    some, always = tmp_path / "some", tmp_path / "always"
    with local_faults(monkeypatch, fault("kill", "pipeline.stages.filter:filter_worker", some, 3)):
        m = run_filter(filter_job(corpus, tmp_path / "out", retries=0), CTX)
    assert len(hits(some)) == 3 and "poison_shards" not in m
    assert outputs(tmp_path / "out") == outputs(filtered)
    with local_faults(monkeypatch, fault("kill", "pipeline.stages.filter:filter_worker", always, 100)):
        with pytest.raises(UserError, match=r"^filter: 8 worker processes in a row died while setting up, before "
                                            r"running anything \(killed by SIGKILL\); out of memory\?"):
            run_filter(filter_job(corpus, tmp_path / "out2", retries=0), CTX)
    assert len(hits(always)) == 8


@pytest.mark.ray
def test_filter_actors_killed_on_ray(corpus, filtered, ray_address, tmp_path):
    from pipeline.stages.filter import run_filter

    marker = tmp_path / "kill"
    with ray_faults(ray_address, fault("kill", "pipeline.runner:write_shard_stats", marker, times=2)):
        run_filter(filter_job(corpus, tmp_path / "out", executor="ray"),
                   RunContext(address=ray_address, progress=False))
    assert len(hits(marker)) == 2
    assert outputs(tmp_path / "out") == outputs(filtered)


# ------------------------------------------------------------------------------------------------ kills: classify
@pytest.fixture(scope="module")
def quality_model(tmp_path_factory) -> Path:
    from tests.helpers import write_jsonl
    from tests.test_quality_classifier import junk_docs, prose_docs

    root = tmp_path_factory.mktemp("faults-cls")
    rng = random.Random(7)
    write_jsonl(root / "pos.jsonl", [{"text": t} for t in prose_docs(rng, 200)])
    write_jsonl(root / "neg.jsonl", [{"text": t} for _, t in junk_docs(rng, 200)])
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "classifier", "train", "--positive",
                          str(root / "pos.jsonl"), "--negative", str(root / "neg.jsonl"), "-o", str(root / "model"),
                          "--set", "dim=16", "--set", "bucket=20000", "--set", "epoch=3", "--no-progress"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    return root / "model"


def classify_job(filtered: Path, model: Path, out: Path, executor: str):
    from pipeline.stages.classify import ClassifyJob

    return ClassifyJob(inputs=[str(filtered / "data")], output=str(out), resources={"workers": 2},
                       runtime={"executor": executor}, classify={"model": str(model), "keep_top": 0.5})


@pytest.fixture(scope="module")
def classified(filtered, quality_model, tmp_path_factory) -> Path:
    """The undisturbed scoring run (local; the executors give the same output)."""
    from pipeline.stages.classify import run_classify

    out = tmp_path_factory.mktemp("faults-classify") / "out"
    run_classify(classify_job(filtered, quality_model, out, "local"), CTX)
    return out


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_classifier_scoring_workers_killed(filtered, quality_model, classified, tmp_path, monkeypatch, request,
                                           executor):
    """Scoring with keep_top (pass 1 scores, pass 2 re-decides from the scores): killed twice while scoring."""
    from pipeline.stages.classify import run_classify

    marker, out = tmp_path / "kill", tmp_path / "out"
    spec = fault("kill", "filters.quality:FastTextQuality.annotate", marker, times=2)
    if executor == "local":
        with local_faults(monkeypatch, spec):
            run_classify(classify_job(filtered, quality_model, out, executor), CTX)
    else:
        address = request.getfixturevalue("ray_address")
        with ray_faults(address, spec):
            run_classify(classify_job(filtered, quality_model, out, executor),
                         RunContext(address=address, progress=False))
    assert len(hits(marker)) == 2
    assert outputs(out) == outputs(classified)


# ------------------------------------------------------------------------------------------------ kills: dedupe
def test_dedupe_pool_workers_killed_in_signatures_and_filter(filtered, deduped, tmp_path, monkeypatch):
    from pipeline.stages.dedupe import run_dedupe

    m1, m2 = tmp_path / "sig", tmp_path / "filter"
    with local_faults(monkeypatch, fault("kill", "pipeline.stages.dedupe:signature_shard", m1),
                      fault("kill", "pipeline.stages.dedupe:filter_shard", m2)):
        run_dedupe(dedupe_job([filtered / "data"], tmp_path / "out"), CTX)
    assert len(hits(m1)) == 1 and len(hits(m2)) == 1
    assert outputs(tmp_path / "out") == outputs(deduped)


def test_dedupe_driver_killed_in_each_in_process_step(filtered, deduped, tmp_path):
    """Locally, buckets/edges, components and keepers run in the driver: it is SIGKILLed in each in turn (the same
    command rerun after each kill), then the output is identical."""
    markers = {step: tmp_path / step for step in ("edges_local", "memory_components", "keepers_local")}
    env = {**os.environ, **faults_env(*(fault("kill", f"pipeline.stages.dedupe:{s}", m) for s, m in markers.items()))}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli", "dedupe", str(filtered / "data"), "-o", str(out), "--executor",
           "local", "--set", "resources.workers=2", "--no-progress"]
    codes = [subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300).returncode
             for _ in range(4)]
    assert codes == [-9, -9, -9, 0]
    assert all(len(hits(m)) == 1 for m in markers.values())
    assert outputs(out) == outputs(deduped)


@pytest.mark.ray
def test_dedupe_ray_tasks_killed_in_every_step(filtered, deduped, ray_address, tmp_path):
    """On Ray every step is tasks (components distributed: max_edges_in_memory 0): one kill in each."""
    from pipeline.stages.dedupe import run_dedupe

    targets = {"signatures": "pipeline.stages.dedupe:signature_shard",
               "buckets": "filters.dedupe.kernels:partition_edges",
               "components": "filters.dedupe.kernels:star_round",
               "keepers": "filters.dedupe.kernels:keepers",
               "filter": "pipeline.stages.dedupe:filter_shard"}
    markers = {step: tmp_path / step for step in targets}
    with ray_faults(ray_address, *(fault("kill", t, markers[s]) for s, t in targets.items())):
        m = run_dedupe(dedupe_job([filtered / "data"], tmp_path / "out", {"max_edges_in_memory": 0}, executor="ray"),
                       RunContext(address=ray_address, progress=False))
    assert m["components_algorithm"] == "star"
    assert {s: len(hits(mk)) for s, mk in markers.items()} == {s: 1 for s in targets}
    assert outputs(tmp_path / "out") == outputs(deduped)


# ------------------------------------------------------------------------------------------------ kills: generate
@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Path]:
    from pipeline.corpus.prose import prose_pool
    from tests.helpers import write_jsonl

    d = tmp_path_factory.mktemp("faults-seeds")
    arts = [a for a in prose_pool() if len(a.paragraphs) >= 3][:8]
    rows = [{"id": f"s{i}", "text": "\n\n".join(a.paragraphs[:3])} for i, a in enumerate(arts)]
    return [write_jsonl(d / "seeds-a.jsonl", rows[:4]), write_jsonl(d / "seeds-b.jsonl", rows[4:] + ["{bad"])]


def generate_job(seeds: list[Path], out: Path, executor: str):
    from pipeline.stages.generate import GenerateJob

    return GenerateJob(inputs=[str(s) for s in seeds], output=str(out), resources={"workers": 2},
                       runtime={"executor": executor})


@pytest.fixture(scope="module")
def generated(seeds, tmp_path_factory) -> Path:
    """The undisturbed generation run (local; procedural teacher), chained with dedupe."""
    from pipeline.stages.generate import run_generate

    out = tmp_path_factory.mktemp("faults-generate") / "out"
    run_generate(generate_job(seeds, out, "local"), CTX)
    return out


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_generation_workers_killed(seeds, generated, tmp_path, monkeypatch, request, executor):
    from pipeline.stages.generate import run_generate

    marker, out = tmp_path / "kill", tmp_path / "out"
    spec = fault("kill", "pipeline.stages.generate:GenerateWorker._write", marker, times=2)
    if executor == "local":
        with local_faults(monkeypatch, spec):
            run_generate(generate_job(seeds, out, executor), CTX)
    else:
        address = request.getfixturevalue("ray_address")
        with ray_faults(address, spec):
            run_generate(generate_job(seeds, out, executor), RunContext(address=address, progress=False))
    assert len(hits(marker)) == 2
    got, want = outputs(out), outputs(generated)
    assert got == want and want["counts"]["kept"] > 10
