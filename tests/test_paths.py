"""Paths that cross to workers are absolute: every local path of a job is resolved where the command starts
(`pipeline.paths`), for every stage, so workers running in other directories (pool processes, Ray actors and
tasks, Ray Train workers, submitted jobs) find the same files."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline.paths import absolute_path, absolute_paths, rule_of
from pipeline.stages import all_stages

REPO = Path(__file__).resolve().parent.parent

# Every path field of every registered stage's job model (class.field -> rule); a new field with a path name, or
# a path field that loses its rule, shows up here.
EXPECTED = {
    "FilterJob.inputs": "always", "FilterJob.output": "always", "LanguageConfig.model": "maybe",
    "QualityConfig.model": "maybe", "ClassifyJob.inputs": "always", "ClassifyJob.output": "always",
    "ClassifyConfig.model": "maybe", "DedupeJob.inputs": "always", "DedupeJob.output": "always",
    "DedupeConfig.index_in": "always", "DedupeConfig.index_out": "always", "TrainClassifierJob.output": "always",
    "TrainClassifierJob.positive": "always", "TrainClassifierJob.negative": "always",
    "TrainClassifierJob.labelled": "always", "TrainClassifierJob.annotate": "always",
    "AnnotationConfig.cache": "always", "EvaluateClassifierJob.model": "maybe",
    "EvaluateClassifierJob.inputs": "always", "EvaluateClassifierJob.output": "always",
    "CurateJob.inputs": "always", "CurateJob.output": "always", "DecontaminateJob.inputs": "always",
    "DecontaminateJob.output": "always", "DecontamSection.against": "always", "GenerateJob.inputs": "always",
    "GenerateJob.output": "always", "OpenAIConfig.model": "maybe", "VLLMConfig.model": "maybe",
    "VLLMConfig.tokenizer": "maybe", "VLLMConfig.chat_template": "maybe", "VLLMConfig.python": "maybe",
    "RayLLMConfig.model": "maybe", "RayLLMConfig.chat_template": "maybe", "RayLLMConfig.python": "maybe",
    "GenerateConfig.cache": "always", "TrainJob.data": "always", "TrainJob.tokenizer": "always",
    "TrainJob.output": "always", "TrainJob.model": "maybe", "TrainJob.eval_text": "always",
    "TrainJob.token_cache": "always", "EvaluateJob.model_dir": "always", "EvaluateJob.output": "always",
    "EvaluateJob.text": "map", "EvaluateJob.pairs": "map", "EvaluateJob.choices": "map", "FitJob.runs": "always",
    "FitJob.output": "always",
}


def _models(annotation) -> list[type[BaseModel]]:
    out = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for a in getattr(annotation, "__args__", ()) or ():
        out += _models(a)
    return out


def test_every_path_field_of_every_stage_has_its_rule():
    found, seen = {}, set()

    def walk(model):
        if model in seen:
            return
        seen.add(model)
        for name, f in model.model_fields.items():
            rule = rule_of(model, name)
            if rule:
                found[f"{model.__name__}.{name}"] = rule
            for m in _models(f.annotation):
                walk(m)

    stages = all_stages()
    for name in ("filter", "classify", "dedupe", "classifier-train", "classifier-evaluate", "curate",
                 "decontaminate", "generate", "train", "evaluate", "fit"):
        walk(stages[name].job_model())
    assert {k: v for k, v in found.items() if k in EXPECTED} == EXPECTED
    unexpected = {k for k in found if k not in EXPECTED and not k.split(".")[0] in ("AblateConfig", "ArmSpec",
                                                                                   "EvalSets", "TokenizerSpec",
                                                                                   "AblateJob")}
    assert not unexpected, unexpected


def test_absolute_paths_walks_a_job(tmp_path, monkeypatch):
    from pipeline.stages.dedupe import DedupeJob
    from pipeline.stages.generate import GenerateJob
    from pipeline.student.train import TrainJob

    monkeypatch.chdir(tmp_path)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    job = DedupeJob(inputs=["in/a.jsonl", "s3://bucket/b.jsonl", "hf://datasets/x", "~/c.jsonl", "/abs/d.parquet",
                            "in/*.warc.gz"], output="out", dedupe={"index_in": "idx", "index_out": "../idx2"})
    got = absolute_paths(job)
    assert got.inputs == [f"{tmp_path}/in/a.jsonl", "s3://bucket/b.jsonl", "hf://datasets/x",
                          os.path.expanduser("~/c.jsonl"), "/abs/d.parquet", f"{tmp_path}/in/*.warc.gz"]
    assert got.output == f"{tmp_path}/out"
    assert (got.dedupe.index_in, got.dedupe.index_out) == (f"{tmp_path}/idx", f"{tmp_path.parent}/idx2")
    assert job.inputs[0] == "in/a.jsonl"  # the original is untouched
    tr = absolute_paths(TrainJob(data=["d.jsonl"], tokenizer="tok", output="run", model="t0", eval_text="held.txt"))
    assert (tr.data, tr.tokenizer, tr.output, tr.model, tr.eval_text) == \
        ([f"{tmp_path}/d.jsonl"], f"{tmp_path}/tok", f"{tmp_path}/run", "t0", [f"{tmp_path}/held.txt"])
    # a teacher's model and interpreter: resolved when they exist here, hub names left alone
    gen = absolute_paths(GenerateJob(inputs=["seeds.jsonl"], output="g", generate={
        "teacher": {"kind": "vllm", "model": "org/model", "python": "venv/bin/python", "tokenizer": "gpt2"},
        "cache": "cache"}))
    t = gen.generate.teacher
    assert (t.model, t.python, t.tokenizer) == ("org/model", f"{tmp_path}/venv/bin/python", "gpt2")
    assert gen.generate.cache == f"{tmp_path}/cache"
    assert absolute_path("") == "" and absolute_path("file:///x") == "file:///x"


def test_submitted_config_dict_is_resolved_at_any_depth(tmp_path, monkeypatch):
    from pipeline.submit import absolute_paths as submit_paths

    monkeypatch.chdir(tmp_path)
    cfg = submit_paths({"inputs": ["in"], "output": "out", "dedupe": {"index_out": "idx"}}, "dedupe")
    assert (cfg["inputs"], cfg["output"], cfg["dedupe"]["index_out"]) == \
        ([f"{tmp_path}/in"], f"{tmp_path}/out", f"{tmp_path}/idx")


@pytest.mark.ray
def test_relative_paths_on_ray_from_another_directory(ray_cluster, tmp_path):
    """`assay dedupe in -o out --address CLUSTER` run from a directory that is not where the cluster's workers run:
    JSONL input (ingest on actors, signatures and filter as tasks, Ray Data shuffles) written where the user
    meant."""
    from tests.helpers import write_jsonl

    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(vocab, k=80)) for _ in range(60)]
    (tmp_path / "in").mkdir()
    for s in range(2):
        write_jsonl(tmp_path / "in" / f"part{s}.jsonl", [{"id": f"{s}-{i}", "text": t}
                                                         for i, t in enumerate(texts[s::2] + texts[:5])])
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "dedupe", "in", "-o", "out", "--address",
                          ray_cluster.address, "--no-progress"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["executor"] == "ray" and m["input"] == 70 and m["kept"] == 60
    assert m["config"]["inputs"] == [str(tmp_path / "in")] and m["config"]["output"] == str(tmp_path / "out")
    assert len(list((tmp_path / "out" / "data").glob("*.parquet"))) == 2
    assert not (REPO / "out").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_train_with_ray_train_workers_and_relative_paths(ray_cluster, tmp_path):
    """`assay train --workers 2` (Ray Train DDP) with relative --data/--tokenizer/--output: before, the workers
    looked for `tok/tokenizer.json` in their own directory ("no tokenizer.json")."""
    from tests.helpers import PROSE, PROSE2, write_jsonl

    rng = random.Random(0)
    words = (PROSE + " " + PROSE2).split()
    write_jsonl(tmp_path / "d.jsonl", [{"text": " ".join(rng.choices(words, k=200))} for _ in range(200)])
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "train", "--data", "d.jsonl", "--tokenizer", "tok",
                          "--output", "run", "--tokens", "20000", "--workers", "2", "--model", "t0", "--vocab-size",
                          "300", "--seq-len", "64", "--batch-size", "4", "--threads", "1", "--no-progress",
                          "--address", ray_cluster.address], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["result"]["steps"] > 0 and (tmp_path / "tok" / "tokenizer.json").exists()
    assert result["config"]["tokenizer"] == str(tmp_path / "tok")
    assert (tmp_path / "run" / "hf").is_dir()
