"""The ablation experiment: config validation and `${var}` substitution, and a tiny ablation end to end through
the session Ray cluster (2 arms x 2 sizes x 2 budgets), resumed, with runs.csv, fit.json and report.md."""

import json
import random
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, load_config, substitute_vars
from pipeline.stage import RunContext
from pipeline.stages.ablate import AblateConfig, collect_rows, point_dir, run_ablate

NOUNS = ("cat", "dog", "bird", "fox", "cow", "hen")
PLACES = ("mat", "rug", "box", "bed", "barn", "hill")


def _clean(n, seed):
    rng = random.Random(seed)
    return [" ".join(f"the {rng.choice(NOUNS)} sat on the {rng.choice(PLACES)}." for _ in range(6)) for _ in range(n)]


def _noisy(n, seed):
    rng = random.Random(seed)
    junk = "qxzjkvw#@%&"
    return [t if rng.random() < 0.5 else "".join(rng.choice(junk) for _ in range(len(t))) for t in _clean(n, seed)]


def _parquet_dir(d, texts, shards=2):
    d.mkdir(parents=True)
    for i in range(shards):
        part = texts[i::shards]
        pq.write_table(pa.table({"id": [f"s{i}:{j}" for j in range(len(part))], "text": part}), d / f"part-{i}.parquet")
    return str(d)


def _config(tmp_path, **kw):
    data = {
        "vars": {"root": str(tmp_path)},
        "arms": {"clean": ["${root}/clean"], "noisy": ["${root}/noisy"]},
        "baseline": "noisy",
        "models": ["t0", "t1"],
        "tokens": [2048, 6144],
        "eval": {"text": {"heldout": "${root}/heldout.jsonl"}},
        "tokenizer": {"vocab_size": 300, "sample_from": ["clean", "noisy"]},
        "seq_len": 32, "batch_size": 8, "lr": 1e-2, "warmup_frac": 0.1,
        "output": "${root}/out",
        "fit": {"bootstrap": 20},
    }
    data.update(kw)
    return data


def test_config_vars_and_validation(tmp_path):
    cfg = AblateConfig.model_validate(_config(tmp_path))
    assert cfg.arms["clean"] == [f"{tmp_path}/clean"] and cfg.output == f"{tmp_path}/out"
    assert cfg.eval.primary == "heldout" and cfg.eval.text["heldout"] == f"{tmp_path}/heldout.jsonl"
    assert len(cfg.points()) == 2 * 2 * 2
    assert point_dir(cfg, cfg.points()[0]) == tmp_path / "out" / "runs" / "clean" / "t0-D2048-s0"
    with pytest.raises(ValueError, match=r"unknown variable \$\{nope\}"):
        substitute_vars({"a": ["${nope}/x"]}, {"root": "/r"})
    bad = [dict(baseline="missing"), dict(models=["t0", "huge"]), dict(unknown_key=1),
           dict(eval={"text": {}}), dict(arms={"clean": ["${undefined}/x"], "noisy": ["y"]})]
    for b in bad:
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(_config(tmp_path, **b)))
        with pytest.raises(ConfigError):
            load_config(AblateConfig, p)
    # replicate seeds at some points: the grid's points first, then the extra seeds, no point twice
    rep = AblateConfig.model_validate(_config(tmp_path, seeds=[0], replicates=[
        {"seeds": [1, 0], "models": ["t0"], "tokens": [6144]}, {"seeds": [2], "arms": ["noisy"]}]))
    pts = [(p["arm"], p["model"], p["tokens"], p["seed"]) for p in rep.points()]
    assert len(pts) == 8 + 2 + 4 and len(set(pts)) == len(pts)
    assert pts[8:10] == [("clean", "t0", 6144, 1), ("noisy", "t0", 6144, 1)]
    assert pts[10:] == [("noisy", m, d, 2) for m in ("t0", "t1") for d in (2048, 6144)]
    with pytest.raises(ValueError, match=r"replicates\[0\]\.models: \['t9'\] not in the experiment's models"):
        AblateConfig.model_validate(_config(tmp_path, replicates=[{"seeds": [1], "models": ["t9"]}]))
    # fit.target: "N,D" or [N, D]; anything else is one clear error
    assert AblateConfig.model_validate(_config(tmp_path, fit={"target": "1e9,2e10"})).fit.target == [1e9, 2e10]
    with pytest.raises(ValueError, match="--target must be N,D"):
        AblateConfig.model_validate(_config(tmp_path, fit={"target": "1e9"}))
    # CLI-style override of a var (deep merge into vars) wins over the file's value
    p = tmp_path / "ok.json"
    p.write_text(json.dumps(_config(tmp_path)))
    cfg = load_config(AblateConfig, p, {"vars": {"root": "/elsewhere"}})
    assert cfg.output == "/elsewhere/out"


@pytest.mark.ray
@pytest.mark.slow
def test_tiny_ablation_end_to_end(tmp_path, ray_cluster):
    _parquet_dir(tmp_path / "clean", _clean(160, 0))
    _parquet_dir(tmp_path / "noisy", _noisy(160, 1))
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in _clean(12, 99)))
    cfg = AblateConfig.model_validate(_config(tmp_path))

    out = run_ablate(cfg, RunContext(address=ray_cluster.address, progress=False))
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8
    assert set(runs["arm"]) == {"clean", "noisy"} and set(runs["model"]) == {"t0", "t1"}
    assert {"params", "tokens", "flops", "seed", "loss", "bpb", "loss:heldout", "bpb:heldout", "wall_s",
            "epochs"} <= set(runs.columns)
    assert (runs["flops"] == 6 * runs["params"] * runs["tokens"]).all()
    assert runs.groupby("model")["params"].nunique().eq(1).all() and runs["params"].nunique() == 2
    assert (runs["loss"] > 0).all() and (runs["bpb"] > 0).all()
    # clean text is learned better by the arm trained on clean text, at every (size, budget)
    piv = runs.pivot_table(index=["model", "tokens_budget"], columns="arm", values="loss")
    assert (piv["clean"] < piv["noisy"]).all()

    fit = json.loads((out / "fit" / "fit.json").read_text())
    assert set(fit["arms"]) == {"clean", "noisy"} and fit["baseline"] == "noisy"
    assert any("too few points" in w for w in fit["arms"]["clean"]["warnings"])  # 4 points per arm
    assert (out / "fit" / "report.md").exists() and (out / "fit" / "loss_vs_compute.png").exists()

    # resume: delete one finished point; a rerun trains only that one and leaves the others untouched
    victim = point_dir(cfg, cfg.points()[3])
    shutil.rmtree(victim)
    stamps = {d: (d / "point.json").stat().st_mtime_ns for d in (point_dir(cfg, p) for p in cfg.points())
              if d != victim}
    assert len(stamps) == 7
    run_ablate(cfg, RunContext(address=ray_cluster.address, progress=False))
    assert len(collect_rows(cfg)) == 8 and (victim / "point.json").exists()
    for d, t in stamps.items():
        assert (d / "point.json").stat().st_mtime_ns == t
    assert len(pd.read_csv(out / "runs.csv")) == 8
    # stale output: another learning rate into the same output is refused before any work, naming the change;
    # more points (another budget) extend the grid and reuse every finished one
    from pipeline.errors import UserError

    with pytest.raises(UserError, match=r"lr: 0.01 -> 0.02"):
        run_ablate(AblateConfig.model_validate(_config(tmp_path, lr=0.02)), RunContext(progress=False))


def test_demo_config_is_valid():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "configs" / "ablate-demo.yaml"
    cfg = load_config(AblateConfig, path, {"vars": {"demo": "/d"}})
    assert cfg.arms["raw"] == ["/d/raw"] and cfg.arms["filtered"] == ["/d/filtered"]
    assert cfg.planted() == {"control": {"source": "raw", "value": 0.5}}
    assert cfg.arm_paths("control") == ["/d/ablate/arms/control"]
    assert cfg.output == "/d/ablate" and cfg.eval.text == {"heldout": "/d/corpus/_heldout.jsonl"}
    # three sizes (A shared is identifiable: two cannot separate A from E), four budgets (one can be dropped),
    # replicate seeds at the smallest and the largest size (the seed noise grows with size)
    assert len(cfg.models) == 3 and len(cfg.tokens) == 4 and cfg.fit.share == "alpha,beta,E,A"
    replicated = {(p["arm"], p["model"]) for p in cfg.points() if p["seed"] != 0}
    assert {m for _, m in replicated} == {cfg.models[0], cfg.models[-1]} and {a for a, _ in replicated} == set(cfg.arms)
    assert len(cfg.points()) == 3 * 3 * 4 + 3 * 3 and cfg.baseline == "raw"
    assert cfg.fit.target is not None
    with pytest.raises(ValueError, match="circular"):
        AblateConfig.model_validate({**_config(Path("/t")), "vars": {"a": "${b}", "b": "${a}"}})
