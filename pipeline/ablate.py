"""Data ablations: train student LMs on every (arm, model size N, token budget D, seed) point as Ray tasks,
evaluate them, collect `runs.csv`, then fit L(N, D) per arm and write the scaling report.

Layout under `output/`:
    config.json                       the resolved config
    tokenizer/                        one byte-level BPE shared by all arms (so losses compare)
    runs/<arm>/<model>-D<tokens>-s<seed>/
        (training run dir: ckpt.pt, hf/, result.json) + point.json (train + eval row; marks the point done)
    runs.csv                          one row per finished point (rewritten atomically as points finish)
    fit/                              fit.json, report.md, plots (pipeline.scaling.report)

Resumable: a point with point.json is skipped; an interrupted training run resumes from its checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
POINT_FILE = "point.json"


def substitute_vars(value: Any, variables: dict[str, str], where: str = "config") -> Any:
    """Replace `${name}` in every string of a nested structure; an unknown name is an error naming the key."""
    if isinstance(value, str):
        def repl(m: re.Match) -> str:
            name = m.group(1)
            if name not in variables:
                raise ValueError(f"{where}: unknown variable ${{{name}}}; define it under `vars:` or pass "
                                 f"--var {name}=VALUE (known: {sorted(variables) or 'none'})")
            return str(variables[name])
        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute_vars(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_vars(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def resolve_vars(variables: dict[str, str]) -> dict[str, str]:
    """Let vars refer to each other (`raw: ${demo}/raw/data`); a cycle is an error."""
    out = dict(variables)
    for _ in range(len(out) + 1):
        nxt = {k: substitute_vars(v, out, f"vars.{k}") for k, v in out.items()}
        if nxt == out:
            loops = sorted(k for k, v in out.items() if _VAR.search(v))
            if loops:
                break
            return out
        out = nxt
    else:
        loops = sorted(out)
    raise ValueError(f"vars: circular references among {loops}")


class EvalSets(BaseModel):
    """Eval sets, name -> path. `text`: held-out Parquet/JSONL/.txt (loss, bpb); `pairs`: minimal-pairs JSONL;
    `choices`: multiple-choice JSONL. `primary`: the text set whose loss fills runs.csv's `loss` column."""

    model_config = ConfigDict(extra="forbid")
    text: dict[str, str]
    pairs: dict[str, str] = {}
    choices: dict[str, str] = {}
    primary: str | None = None

    @model_validator(mode="after")
    def _check(self):
        if not self.text:
            raise ValueError("eval.text needs at least one held-out text set (its loss is what the fits use)")
        if self.primary is None:
            self.primary = next(iter(self.text))
        elif self.primary not in self.text:
            raise ValueError(f"eval.primary {self.primary!r} is not one of eval.text: {list(self.text)}")
        return self


class TokenizerSpec(BaseModel):
    """One tokenizer for all arms: trained on a sample of `sample_from` arms (default: the baseline), or `path`."""

    model_config = ConfigDict(extra="forbid")
    vocab_size: int = Field(4096, ge=257)
    sample_docs: int = Field(20000, ge=1)
    sample_from: list[str] | None = None
    path: str | None = None
    seed: int = 0


class Resources(BaseModel):
    """Ray resources per training task; `threads`: torch CPU threads in the task (default: cpus, at least 1)."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    threads: int | None = None


class FitSpec(BaseModel):
    """Options of the fit that follows the runs (as `assay fit`)."""

    model_config = ConfigDict(extra="forbid")
    bootstrap: int = Field(1000, ge=0)
    drop_highest: int = Field(0, ge=0)
    loss_column: str = "loss"
    seed: int = 0


class AblateConfig(BaseModel):
    """An ablation experiment. Strings may use `${name}` placeholders filled from `vars`."""

    model_config = ConfigDict(extra="forbid")
    vars: dict[str, str] = {}
    arms: dict[str, list[str]]  # arm name -> data paths (Parquet dirs/files, JSONL, globs)
    baseline: str
    models: list[str]  # ladder names (pipeline.student.model.LADDER)
    tokens: list[int]  # token budgets D
    eval: EvalSets
    seeds: list[int] = [0]
    tokenizer: TokenizerSpec = TokenizerSpec()
    text_field: str = "text"
    seq_len: int = Field(256, ge=2)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    output: str
    resources: Resources = Resources()
    fit: FitSpec = FitSpec()

    @model_validator(mode="before")
    @classmethod
    def _fill_vars(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        variables = resolve_vars({str(k): str(v) for k, v in (data.get("vars") or {}).items()})
        rest = {k: v for k, v in data.items() if k != "vars"}
        return {**substitute_vars(rest, variables), "vars": variables}

    @model_validator(mode="after")
    def _check(self):
        from pipeline.student.model import LADDER

        if not self.arms:
            raise ValueError("arms: name at least one arm (name -> list of data paths)")
        for arm, paths in self.arms.items():
            if not paths:
                raise ValueError(f"arms.{arm}: no data paths")
        if self.baseline not in self.arms:
            raise ValueError(f"baseline {self.baseline!r} is not one of the arms: {list(self.arms)}")
        unknown = [m for m in self.models if m not in LADDER]
        if unknown or not self.models:
            raise ValueError(f"models {unknown or '[]'}: use ladder names: {', '.join(LADDER)}")
        if not self.tokens or min(self.tokens) <= 0:
            raise ValueError(f"tokens must be a non-empty list of positive budgets, got {self.tokens}")
        for arm in self.tokenizer.sample_from or []:
            if arm not in self.arms:
                raise ValueError(f"tokenizer.sample_from: {arm!r} is not one of the arms: {list(self.arms)}")
        return self

    def points(self) -> list[dict]:
        """Every (arm, model, tokens, seed) point in a stable order."""
        return [{"arm": a, "model": m, "tokens": int(d), "seed": int(s)}
                for a in self.arms for m in self.models for d in self.tokens for s in self.seeds]


def point_dir(cfg: AblateConfig, point: dict) -> Path:
    return Path(cfg.output) / "runs" / point["arm"] / f"{point['model']}-D{point['tokens']}-s{point['seed']}"


def ensure_tokenizer(cfg: AblateConfig) -> Path:
    """The experiment's shared tokenizer: `tokenizer.path`, or trained once into output/tokenizer/."""
    if cfg.tokenizer.path:
        return Path(cfg.tokenizer.path)
    out = Path(cfg.output) / "tokenizer"
    if (out / "tokenizer.json").exists():
        return out
    from pipeline.student.tokenizer import train_tokenizer

    arms = cfg.tokenizer.sample_from or [cfg.baseline]
    paths = [p for a in arms for p in cfg.arms[a]]
    log.info("training the shared tokenizer (vocab %d) on %s", cfg.tokenizer.vocab_size, arms)
    tmp = out.with_name(".tokenizer.tmp")
    train_tokenizer(paths, tmp, vocab_size=cfg.tokenizer.vocab_size, sample_docs=cfg.tokenizer.sample_docs,
                    seed=cfg.tokenizer.seed, text_field=cfg.text_field)
    if out.exists():  # a partial dir from an interrupted run
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def run_point(cfg_json: dict, point: dict, tokenizer: str) -> dict:
    """Train and evaluate one point (runs inside a Ray task, or in-process); writes and returns its row."""
    from pipeline.student.evaluate import evaluate
    from pipeline.student.train import TrainConfig, train

    cfg = AblateConfig.model_validate(cfg_json)
    out = point_dir(cfg, point)
    t0 = time.perf_counter()
    gpu = cfg.resources.gpus > 0
    tcfg = TrainConfig(
        data=cfg.arms[point["arm"]], tokenizer=str(tokenizer), out_dir=str(out), model=point["model"],
        tokens=point["tokens"], text_field=cfg.text_field, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
        lr=cfg.lr, warmup_frac=cfg.warmup_frac, seed=point["seed"], device="cuda" if gpu else "cpu",
        threads=cfg.resources.threads or max(1, int(cfg.resources.cpus)),
    )
    res = train(tcfg, progress=False)
    rows = evaluate(out / "hf", text=cfg.eval.text, pairs=cfg.eval.pairs, choices=cfg.eval.choices,
                    batch_size=cfg.batch_size, device="cuda" if gpu else "cpu", text_field=cfg.text_field,
                    seq_len=cfg.seq_len)
    row = {**point, "params": res.non_embedding_params, "total_params": res.total_params,
           "tokens_budget": point["tokens"], "tokens": res.tokens, "flops": res.flops}
    metrics = {}
    for r in rows:
        prefix = "acc" if r["metric"] == "accuracy" else r["metric"]
        metrics[f"{prefix}:{r['eval_set']}"] = r["value"]
    row["loss"] = metrics[f"loss:{cfg.eval.primary}"]
    row["bpb"] = metrics[f"bpb:{cfg.eval.primary}"]
    row.update(metrics)
    row.update({"train_loss": res.final_train_loss, "epochs": res.epochs, "unique_tokens": res.unique_tokens,
                "tokens_per_s": res.tokens_per_s, "wall_s": time.perf_counter() - t0})
    write_json_atomic(row, out / POINT_FILE)
    return row


def collect_rows(cfg: AblateConfig) -> list[dict]:
    """The rows of every finished point, in config order."""
    rows = []
    for p in cfg.points():
        f = point_dir(cfg, p) / POINT_FILE
        if f.exists():
            rows.append(json.loads(f.read_text()))
    return rows


def write_runs_csv(rows: list[dict], path: Path) -> Path:
    """Write rows (fixed columns first, then eval columns in sorted order) atomically."""
    first = ["arm", "model", "params", "total_params", "tokens", "tokens_budget", "flops", "seed", "loss", "bpb"]
    last = ["train_loss", "epochs", "unique_tokens", "tokens_per_s", "wall_s"]
    extra = sorted({k for r in rows for k in r} - set(first) - set(last))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=first + extra + last, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(buf.getvalue(), path)
    return path


def run_ablate(cfg: AblateConfig, address: str | None = None, progress: bool = True) -> Path:
    """Run (or resume) the experiment; returns the output dir (runs.csv, fit/)."""
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cfg.model_dump(mode="json"), out / "config.json")
    tokenizer = ensure_tokenizer(cfg)
    todo = [p for p in cfg.points() if not (point_dir(cfg, p) / POINT_FILE).exists()]
    total = len(cfg.points())
    _say(progress, f"[ablate] {total} points, {total - len(todo)} already done, {len(todo)} to run")
    failures = []
    if todo:
        import ray

        from pipeline.ray_env import init_ray

        init_ray(address)
        task = ray.remote(num_cpus=cfg.resources.cpus, num_gpus=cfg.resources.gpus, max_retries=0)(run_point)
        cfg_json = cfg.model_dump(mode="json")
        pending = {task.remote(cfg_json, p, str(tokenizer)): p for p in todo}
        done = total - len(todo)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            p = pending.pop(ready[0])
            try:
                row = ray.get(ready[0])
                done += 1
                _say(progress, f"[ablate] {done}/{total} {p['arm']} {p['model']} D={p['tokens']} seed={p['seed']}: "
                               f"loss {row['loss']:.4f}, bpb {row['bpb']:.4f}, {row['wall_s']:.1f}s")
            except Exception as e:  # keep the others running; report all failures at the end
                failures.append((p, e))
                _say(progress, f"[ablate] FAILED {p}: {e}")
            write_runs_csv(collect_rows(cfg), out / "runs.csv")
    rows = collect_rows(cfg)
    write_runs_csv(rows, out / "runs.csv")
    if failures:
        lines = "\n".join(f"  {p['arm']}/{p['model']}-D{p['tokens']}-s{p['seed']}: {e}" for p, e in failures)
        raise RuntimeError(f"{len(failures)} point(s) failed (finished ones are in {out / 'runs.csv'}; rerun to "
                           f"retry):\n{lines}")
    from pipeline.scaling.report import fit_runs

    fit_runs(out / "runs.csv", out / "fit", drop_highest=cfg.fit.drop_highest, bootstrap=cfg.fit.bootstrap,
             baseline=cfg.baseline, loss_column=cfg.fit.loss_column, seed=cfg.fit.seed)
    _say(progress, f"[ablate] report: {out / 'fit' / 'report.md'}")
    return out


def _say(enabled: bool, msg: str) -> None:
    if enabled:
        print(msg, file=sys.stderr, flush=True)
