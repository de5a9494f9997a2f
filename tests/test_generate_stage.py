"""The synthesize stage end to end: seeds from a curate-like output -> requests -> the procedural teacher ->
verified rows -> dedupe -> decontamination, with conservation, the cache (a repeated run sends nothing and gives the
same dataset), dry runs, `assay decontaminate` on any dataset, and the vLLM teacher through the stage."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.manifest import StageCounts, check_conservation
from tests.helpers import write_jsonl

REPO = Path(__file__).resolve().parent.parent
VLLM_PY = REPO / ".venv-vllm" / "bin" / "python"


def assay(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=900)


def manifest(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    check_conservation(StageCounts.from_dict(m))
    return m


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    from pipeline.corpus.prose import prose_pool

    d = tmp_path_factory.mktemp("seeds")
    arts = [a for a in prose_pool() if len(a.paragraphs) >= 3][:12]
    write_jsonl(d / "seeds.jsonl", [{"id": f"s{i}", "text": "\n\n".join(a.paragraphs[:3])}
                                    for i, a in enumerate(arts)] + ["{not json"])
    return d


def test_procedural_generation_verified_deduped_and_cached(seeds, tmp_path):
    out = tmp_path / "gen"
    res = assay("generate", str(seeds / "seeds.jsonl"), "-o", str(out), "--set", "generate.cache=" +
                str(tmp_path / "cache"), "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["chain"] == ["generate", "dedupe"] and m["seeds"] == 12
    u = m["usage"]
    assert u["requests"] == 36 and u["sent"] == 36 and u["cache_hits"] == 0 and u["completion_tokens"] > 0
    assert m["quarantined"] == 1 and m["quarantined_by_reason"] == {"malformed_json": 1}  # the bad seed line
    rows = pq.read_table(out / "data").to_pylist()
    assert len(rows) == m["kept"] > 30
    need = {"id", "text", "seed_id", "task", "style", "audience", "teacher", "verified", "question", "answer", "check"}
    assert need <= set(rows[0])
    assert {r["task"] for r in rows} == {"textbook_section", "worked_example", "exercise_set"}
    ex = [r for r in rows if r["task"] == "exercise_set"]
    assert ex and all(r["verified"] and r["answer"] and r["check"] for r in ex)
    assert {r["teacher"] for r in rows} == {"procedural:seed=0"}
    assert {r["seed_id"] for r in rows} <= {f"s{i}" for i in range(12)}
    import datasets

    assert len(datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")) == len(rows)
    # a repeated job (new output, same cache) sends nothing and produces the same dataset
    again = tmp_path / "again"
    res = assay("generate", str(seeds / "seeds.jsonl"), "-o", str(again), "--set", "generate.cache=" +
                str(tmp_path / "cache"), "--no-progress")
    assert res.returncode == 0, res.stderr
    m2 = manifest(again)
    assert m2["usage"]["sent"] == 0 and m2["usage"]["cache_hits"] == 36
    assert sorted(map(json.dumps, pq.read_table(again / "data").to_pylist())) == sorted(map(json.dumps, rows))


def test_teacher_retries_reach_the_manifest_by_reason(seeds, tmp_path):
    """The one usage tally: an OpenAI-compatible teacher whose every first answer is HTTP 503 (a real server on
    127.0.0.1) -> each such answer is retried, and the manifest counts those retries by reason, as the server logged
    them, next to the requests sent and the failures (none)."""
    from tests.test_backends_openai import Server

    server = Server(tmp_path, "--fault-rate", "1", "--faults", "503", "--fail-first", "1").start()
    try:
        out = tmp_path / "gen"
        res = assay("generate", str(seeds / "seeds.jsonl"), "-o", str(out), "--teacher", "openai", "--max-seeds",
                    "2", "--set", f"generate.teacher.base_url={server.url}", "--set", "generate.teacher.model=fake",
                    "--set", "generate.teacher.api_key_env=", "--set", "generate.teacher.backoff_base_s=0.01",
                    "--no-progress")
        assert res.returncode == 0, res.stderr
        u = manifest(out)["usage"]
        outcomes = [r["outcome"] for r in server.rows()]
    finally:
        server.stop()
    assert u["sent"] >= 6 and u["cache_hits"] == 0 and u["errors"] == {}
    assert u["retry_reasons"] == {"http_503": outcomes.count("503")} and u["retries"] == outcomes.count("503") >= 6
    assert len(outcomes) == u["sent"] + u["retries"]


def test_dry_run_prints_prompts_and_writes_nothing(seeds, tmp_path):
    res = assay("generate", str(seeds / "seeds.jsonl"), "-o", str(tmp_path / "dry"), "--dry-run")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count('"task_version"') == 3 and "[user]" in res.stdout and "extract" in res.stdout
    assert not (tmp_path / "dry").exists()


def test_generations_are_decontaminated(seeds, tmp_path):
    """An evaluation set that contains one generated passage (verbatim) and one lightly edited: both generations
    are removed with the item they match; an evaluation item on another topic removes nothing."""
    out = tmp_path / "g1"
    assert assay("generate", str(seeds / "seeds.jsonl"), "-o", str(out), "--no-progress").returncode == 0
    rows = [r for r in pq.read_table(out / "data").to_pylist() if r["task"] == "textbook_section"]
    words = rows[1]["text"].split()
    edited = " ".join(w if i % 12 else w.upper() + "s" for i, w in enumerate(words[10:90]))
    write_jsonl(tmp_path / "eval.jsonl", [{"id": "copy", "question": " ".join(words[5:70])},
                                         {"id": "edit", "question": edited},
                                         {"id": "other", "question": "The mitochondria is the powerhouse of the "
                                                                     "cell and produces energy through respiration."}])
    res = assay("generate", str(seeds / "seeds.jsonl"), "-o", str(tmp_path / "g2"), "--against",
                str(tmp_path / "eval.jsonl"), "--set", "decontaminate.eval_field=question", "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(tmp_path / "g2")
    assert m["chain"] == ["generate", "dedupe", "decontaminate"]
    assert m["removed"].get("contaminated", 0) >= 1
    rej = [r for r in pq.read_table(tmp_path / "g2" / "rejects").to_pylist() if r["reason"] == "contaminated"]
    assert rows[1]["id"] in {r["id"] for r in rej}
    assert {r["decontam_item"] for r in rej} <= {"copy", "edit"}


def test_decontaminate_any_dataset(tmp_path):
    from pipeline.corpus.prose import prose_pool

    arts = [a for a in prose_pool() if len(a.paragraphs) >= 4][:30]
    eval_items = [{"id": f"e{i}", "text": a.paragraphs[1]} for i, a in enumerate(arts[:10])]
    write_jsonl(tmp_path / "eval.jsonl", eval_items)
    docs = [{"id": f"d{i}", "text": "\n\n".join(a.paragraphs[2:4])} for i, a in enumerate(arts[10:])]  # clean
    docs.append({"id": "embedded", "text": "\n\n".join(arts[20].paragraphs[:3]) + "\n\n" + arts[3].paragraphs[1]})
    docs.append({"id": "verbatim", "text": arts[5].paragraphs[1]})
    write_jsonl(tmp_path / "docs.jsonl", docs)
    out = tmp_path / "d"
    res = assay("decontaminate", str(tmp_path / "docs.jsonl"), "--against", str(tmp_path / "eval.jsonl"), "-o",
                str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    rej = {r["id"]: r for r in pq.read_table(out / "rejects").to_pylist()}
    assert set(rej) == {"embedded", "verbatim"} and m["kept"] == 20
    assert rej["embedded"]["decontam_item"] == "e3" and rej["verbatim"]["decontam_item"] == "e5"


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not VLLM_PY.exists(), reason=".venv-vllm is missing (make test builds it)")
def test_vllm_teacher_through_the_stage(seeds, tmp_path):
    """A tiny assay-trained teacher served by vLLM's offline engine (in .venv-vllm): the stage accounts for every
    request whatever the tiny model writes (verified rows, rejects with reasons, quarantined malformed JSON)."""
    from pipeline.student.tokenizer import train_tokenizer
    from pipeline.student.train import TrainConfig, train

    d = tmp_path / "teacher"
    d.mkdir()
    lines = [json.dumps({"text": f"User: what is {a} plus {b}?\n\nAssistant: {a} plus {b} is {a + b}."})
             for a in range(1, 10) for b in range(1, 10)] * 4
    (d / "train.jsonl").write_text("\n".join(lines) + "\n")
    tok = train_tokenizer([str(d / "train.jsonl")], d / "tok", vocab_size=384)
    train(TrainConfig(data=[str(d / "train.jsonl")], tokenizer=str(tok), model="t0", tokens=20 * 4 * 1024,
                      seq_len=1024, batch_size=4, lr=1e-2, device="cpu", threads=1, output=str(d / "run")),
          progress=False)  # a 1024-token context: the prompts (template + extract) are ~700 tokens
    cfg = {"inputs": [str(seeds / "seeds.jsonl")], "output": str(tmp_path / "out"),
           "generate": {"max_seeds": 3, "teacher": {"kind": "vllm", "model": str(d / "run" / "hf"),
                                                     "python": str(VLLM_PY), "dtype": "float32",
                                                     "max_model_len": 1024, "enforce_eager": True,
                                                     "gpu_memory_utilization": 0.25},
                        "synthesis": {"tasks": [{"task": t, "extract_chars": 200, "params": {"max_tokens": 96}}
                                                for t in ("exercise_set", "worked_example")]}}}
    res = subprocess.run([sys.executable, "-m", "jobs.generate", "--config", json.dumps(cfg), "--no-progress"],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    m = manifest(tmp_path / "out")
    assert m["teacher"].startswith("vllm:") and m["usage"]["sent"] == m["usage"]["requests"] >= 6
    assert m["usage"]["completion_tokens"] > 0
    assert m["input"] == m["kept"] + sum(m["removed"].values()) + m["quarantined"]
