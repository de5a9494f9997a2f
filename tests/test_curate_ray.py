"""The curate/filter stages on a real Ray cluster (session fixture: `ray start --head`, token auth on):
job submission through the Jobs API, token refusal, resume after a kill, annotate-then-filter, ground truth."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.corpus import TRUTH_FILE, build_corpus
from pipeline.manifest import StageCounts, check_conservation

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, docs=600, seed=7, docs_per_file=100)
    return out


def inputs(corpus_dir: Path) -> list[str]:
    return sorted(str(p) for p in corpus_dir.rglob("*.warc.gz"))


def rows(folder: Path, columns=None) -> list[dict]:
    out = []
    for f in sorted(folder.glob("*.parquet")):
        out += pq.read_table(f, columns=columns).to_pylist()
    return sorted(out, key=lambda r: r["id"])


def manifest(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    check_conservation(StageCounts.from_dict(m))
    return m


def test_curate_job_submitted_through_jobs_api(ray_cluster, corpus, tmp_path):
    from pipeline.submit import submit_job

    out = tmp_path / "curated"
    cfg = {"inputs": inputs(corpus), "output": str(out), "filter": {"extraction": {"extractor": "resiliparse"}}}
    job_id = submit_job("curate", cfg, ray_cluster.dashboard_url, timeout_s=600)
    assert ray_cluster.job_client().get_job_status(job_id) == "SUCCEEDED"
    m = manifest(out)
    assert m["input"] == 600 and m["kept"] > 100 and m["quarantined"] == 0
    assert {"exact_duplicate", "near_duplicate", "language"} <= set(m["removed"])
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert len(ds) == m["kept"] and set(ds.column_names) >= {"id", "text", "url", "date", "source"}
    rejected = rows(out / "rejects", ["id", "reason"])
    assert len(rejected) == sum(m["removed"].values())
    # ground truth: the junk kinds go, prose stays unless it is a duplicate, each duplicate cluster keeps one page
    # (rates measured by benchmarks/curate.py: junk 100% removed, prose 0.1% lost to quality rules, 83% of
    # clusters resolved at FineWeb's 0.72 threshold, none over-removed)
    from pipeline.truth_eval import DEDUPE_REASONS, duplicate_clusters, outcome_by_kind

    kinds = outcome_by_kind(out, corpus / TRUTH_FILE)
    for junk in ("boilerplate", "seo_spam", "lorem_ipsum", "table", "hash_dump", "foreign"):
        assert kinds[junk]["removed"] >= 0.95, (junk, kinds[junk])
    prose = kinds["prose"]
    lost = sum(n for r, n in prose["top_reasons"].items() if r not in DEDUPE_REASONS) / prose["docs"]
    assert prose["quarantined"] == 0 and lost <= 0.05, prose
    clusters = duplicate_clusters(out, corpus / TRUTH_FILE)
    assert clusters["resolved"] >= 0.7 and clusters["over_removed"] <= 0.02, clusters


def test_bare_head_runs_assay_jobs_only_with_the_submitted_interpreter(ray_cluster):
    """The test head's `python` is not assay's venv: a plain `python` entrypoint cannot import pyarrow there,
    which is why pipeline.submit names the interpreter (entrypoint and py_executable)."""
    from pipeline.submit import runtime_env, wait_for_job

    client = ray_cluster.job_client()
    plain = client.submit_job(entrypoint="python -c 'import pyarrow'")
    assert wait_for_job(client, plain, 120) == "FAILED"
    assert "No module named 'pyarrow'" in client.get_job_logs(plain)
    env = runtime_env(sys.executable)
    assert env["py_executable"] == sys.executable
    assert env["env_vars"]["ARROW_DEFAULT_MEMORY_POOL"] == "system" and env["env_vars"]["MALLOC_ARENA_MAX"] == "2"
    ok = client.submit_job(entrypoint=f"{sys.executable} -m jobs.fit --help", runtime_env=env)
    assert wait_for_job(client, ok, 120) == "SUCCEEDED", client.get_job_logs(ok)


def test_workers_on_a_bare_head_get_the_process_environment(ray_cluster):
    """A worker of a cluster started without assay's environment runs with it (the runtime env of `init_ray`):
    Arrow frees into malloc and glibc keeps 2 arenas, so a reused worker does not hold what earlier tasks freed
    (benchmarks/RESULTS.md, "Scale"). The driver process gets the same when `pipeline` is imported."""
    import ray

    from pipeline.ray_env import init_ray

    @ray.remote
    def probe() -> tuple:
        import pyarrow

        return pyarrow.default_memory_pool().backend_name, os.environ.get("MALLOC_ARENA_MAX")

    init_ray(ray_cluster.address)
    try:
        assert ray.get(probe.remote(), timeout=120) == ("system", "2")
    finally:
        ray.shutdown()
    here = subprocess.run([sys.executable, "-c", "import pipeline, pyarrow, os; "
                           "print(pyarrow.default_memory_pool().backend_name, os.environ['MALLOC_ARENA_MAX'])"],
                          env={k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL",
                                                                                  "MALLOC_ARENA_MAX")},
                          capture_output=True, text=True, check=True)
    assert here.stdout.split() == ["system", "2"]


def test_token_protected_cluster_refuses_requests_without_the_token(ray_cluster):
    url = f"{ray_cluster.dashboard_url}/api/jobs/"
    body = json.dumps({"entrypoint": "echo hi"}).encode()
    for headers, code in (({}, 401), ({"Authorization": "Bearer " + "0" * 64}, 403)):
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == code
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(RAY_AUTH_MODE="disabled", HOME=str(ray_cluster.temp_dir))
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "filter", "x.jsonl", "-o", "never-written",
                           "--address", ray_cluster.dashboard_url], env=env, capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode != 0 and ("401" in proc.stderr + proc.stdout or "Unauthorized" in proc.stderr)


def _filter_cmd(corpus: Path, out: Path, address: str) -> list[str]:
    cfg = {"inputs": inputs(corpus), "output": str(out), "filter": {"extraction": {"extractor": "resiliparse"}},
           "resources": {"workers": 1}}
    return [sys.executable, "-m", "jobs.filter", "--no-progress", "--address", address, "--config", json.dumps(cfg)]


def test_resume_after_kill_gives_the_uninterrupted_output(ray_cluster, corpus, tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    subprocess.run(_filter_cmd(corpus, full, ray_cluster.address), check=True, cwd=REPO, timeout=600,
                   capture_output=True)
    proc = subprocess.Popen(_filter_cmd(corpus, resumed, ray_cluster.address), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stats = resumed / "stats" / "filter"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(stats.glob("*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(stats.glob("*.json")))
    assert 2 <= finished < 6, "the kill should land mid-run"
    assert not (resumed / "manifest.json").exists()
    subprocess.run(_filter_cmd(corpus, resumed, ray_cluster.address), check=True, cwd=REPO, timeout=600,
                   capture_output=True)
    for sub in ("data", "rejects", "quarantine"):
        assert rows(resumed / sub) == rows(full / sub), sub
    a, b = manifest(full), manifest(resumed)
    assert {k: a[k] for k in ("input", "kept", "removed", "quarantined")} == \
        {k: b[k] for k in ("input", "kept", "removed", "quarantined")}
    assert not list(resumed.rglob(".*.tmp")), "no temp files left behind"


def test_annotate_then_filter_from_annotations_matches_direct_filter(ray_cluster, corpus, tmp_path):
    from pipeline.stage import RunContext
    from pipeline.stages.filter import FilterJob, run_filter

    base = {"extraction": {"extractor": "resiliparse"}}
    ctx = RunContext(address=ray_cluster.address, progress=False)
    direct = run_filter(FilterJob(inputs=inputs(corpus), output=str(tmp_path / "direct"), filter=base), ctx)
    annotated = run_filter(FilterJob(inputs=inputs(corpus), output=str(tmp_path / "ann"),
                                     filter={**base, "annotate_only": True}), ctx)
    assert annotated["kept"] + annotated["removed"].get("no_text", 0) + annotated["quarantined"] == 600
    ann_rows = rows(tmp_path / "ann" / "data")
    assert {"lang", "lang_score", "gopher_word_count", "fineweb_line_punct_ratio"} <= set(ann_rows[0])
    redecided = run_filter(FilterJob(inputs=[str(tmp_path / "ann" / "data")], output=str(tmp_path / "re"),
                                     filter={**base, "from_annotations": True}), ctx)
    assert [r["id"] for r in rows(tmp_path / "re" / "data", ["id"])] == \
        [r["id"] for r in rows(tmp_path / "direct" / "data", ["id"])]
    no_text = direct["removed"].get("no_text", 0)
    assert {**redecided["removed"], "no_text": no_text} == {k: v for k, v in direct["removed"].items()} | \
        {"no_text": no_text}
    # a stricter threshold re-decided without recomputing removes more
    strict = run_filter(FilterJob(inputs=[str(tmp_path / "ann" / "data")], output=str(tmp_path / "strict"),
                                  filter={**base, "from_annotations": True,
                                          "heuristics": {"gopher_quality": {"min_doc_words": 400}}}), ctx)
    assert strict["kept"] < redecided["kept"]
    import ray

    ray.shutdown()
