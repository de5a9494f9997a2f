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
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.config import TargetND, fill_vars
from pipeline.errors import UserError
from pipeline.io import atomic_dir, write_json_atomic, write_text_atomic
from pipeline.progress import log as _log
from pipeline.runner import Resources, RunEnv, Runtime, map_tasks
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config
from pipeline.stages.arms import ArmSpec, materialize, paths_of

log = logging.getLogger(__name__)


POINT_FILE = "point.json"


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


class TrainResources(Resources):
    """Resources per training point; `threads`: torch CPU threads in the task (default: cpus, at least 1)."""

    model_config = ConfigDict(extra="forbid")
    threads: int | None = Field(None, ge=1)


class FitSpec(BaseModel):
    """Options of the fit that follows the runs (as `assay fit`)."""

    model_config = ConfigDict(extra="forbid")
    bootstrap: int = Field(1000, ge=0)
    drop_highest: int = Field(0, ge=0)
    loss_column: str = "loss"
    seed: int = 0
    share: str | None = Field(None, description="parameters shared across arms (default alpha,beta,E; none: per-arm "
                                                "fits); B is always per arm")
    repetition: str = Field("auto", description="repetition-aware data term: auto | fit | fixed | off")
    target: TargetND = Field(None, description="[N, D] (or \"N,D\"): every arm's predicted loss there, "
                                                         "with the probability of each pairwise order")
    bootstrap_method: Literal["parametric", "points"] = Field("parametric",
                                                              description="parametric | points (see assay fit)")


class Replicates(BaseModel):
    """More seeds at some points: every (arm, model, budget) named here (default: all) also runs with `seeds`.
    Runs that differ only in their seed measure the noise floor the fit's checks and intervals use."""

    model_config = ConfigDict(extra="forbid")
    seeds: list[int]
    arms: list[str] | None = None
    models: list[str] | None = None
    tokens: list[int] | None = None


class AblateConfig(BaseModel):
    """An ablation experiment. Strings may use `${name}` placeholders filled from `vars`."""

    model_config = ConfigDict(extra="forbid")
    vars: dict[str, str] = {}
    arms: dict[str, list[str] | ArmSpec]  # arm name -> data paths, or a derived arm (mix / control)
    baseline: str
    models: list[str]  # ladder names (pipeline.student.model.LADDER)
    tokens: list[int]  # token budgets D
    eval: EvalSets
    seeds: list[int] = [0]
    replicates: list[Replicates] = []
    tokenizer: TokenizerSpec = TokenizerSpec()
    text_field: str = "text"
    seq_len: int = Field(256, ge=2)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    output: str
    resources: TrainResources = Field(default_factory=TrainResources)
    runtime: Runtime = Field(default_factory=Runtime)
    fit: FitSpec = FitSpec()

    @model_validator(mode="before")
    @classmethod
    def _fill_vars(cls, data: Any) -> Any:
        return fill_vars(data)

    @model_validator(mode="after")
    def _check(self):
        from pipeline.student.model import LADDER

        if not self.arms:
            raise ValueError("arms: name at least one arm (name -> list of data paths)")
        for arm, spec in self.arms.items():
            if not spec:
                raise ValueError(f"arms.{arm}: no data paths")
            if isinstance(spec, ArmSpec) and spec.control is not None and spec.control.source not in self.arms:
                raise ValueError(f"arms.{arm}.control.source {spec.control.source!r} is not one of the arms")
            if isinstance(spec, ArmSpec) and spec.control is not None and \
                    isinstance(self.arms[spec.control.source], ArmSpec):
                raise ValueError(f"arms.{arm}: a control's source must be a plain arm")
            if isinstance(spec, ArmSpec) and spec.mix is not None:
                bad = [s for s in spec.mix if s in self.arms and isinstance(self.arms[s], ArmSpec)]
                if bad:
                    raise ValueError(f"arms.{arm}.mix: sources must be plain arms or paths, not {bad}")
        if self.baseline not in self.arms:
            raise ValueError(f"baseline {self.baseline!r} is not one of the arms: {list(self.arms)}")
        unknown = [m for m in self.models if m not in LADDER]
        if unknown or not self.models:
            raise ValueError(f"models {unknown or '[]'}: use ladder names: {', '.join(LADDER)}")
        if not self.tokens or min(self.tokens) <= 0:
            raise ValueError(f"tokens must be a non-empty list of positive budgets, got {self.tokens}")
        for i, r in enumerate(self.replicates):
            for key, known in (("arms", list(self.arms)), ("models", self.models), ("tokens", self.tokens)):
                bad = [x for x in getattr(r, key) or [] if x not in known]
                if bad:
                    raise ValueError(f"replicates[{i}].{key}: {bad} not in the experiment's {key}: {known}")
        for arm in self.tokenizer.sample_from or [self.baseline]:
            if arm not in self.arms:
                raise ValueError(f"tokenizer.sample_from: {arm!r} is not one of the arms: {list(self.arms)}")
            if isinstance(self.arms[arm], ArmSpec):
                raise ValueError(f"tokenizer.sample_from: {arm!r} is derived; sample the tokenizer from plain arms")
        return self

    def arm_paths(self, arm: str) -> list[str]:
        """Data paths of an arm (a derived arm's materialised folder)."""
        return paths_of(self.arms, arm, Path(self.output))

    def planted(self) -> dict[str, dict]:
        """Positive controls: arm -> {source, value} (its data multiplier against the source, known by design)."""
        return {a: {"source": s.control.source, "value": s.control.planted} for a, s in self.arms.items()
                if isinstance(s, ArmSpec) and s.control is not None}

    def points(self) -> list[dict]:
        """Every (arm, model, tokens, seed) point in a stable order: the grid with `seeds`, then the replicates."""
        out = [(a, m, int(d), int(s)) for a in self.arms for m in self.models for d in self.tokens for s in self.seeds]
        for r in self.replicates:
            out += [(a, m, int(d), int(s)) for a in (r.arms or self.arms) for m in (r.models or self.models)
                    for d in (r.tokens or self.tokens) for s in r.seeds]
        return [{"arm": a, "model": m, "tokens": d, "seed": s} for a, m, d, s in dict.fromkeys(out)]


def point_cost(cfg: AblateConfig, point: dict) -> float:
    """Training FLOPs of a point (what it costs to run)."""
    import dataclasses

    from pipeline.student import LADDER, flops_per_token

    mc = LADDER[point["model"]]
    mc = dataclasses.replace(mc, vocab_size=mc.vocab_size or cfg.tokenizer.vocab_size)
    return flops_per_token(mc, cfg.seq_len) * point["tokens"]


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
    paths = [p for a in arms for p in cfg.arm_paths(a)]
    log.info("training the shared tokenizer (vocab %d) on %s", cfg.tokenizer.vocab_size, arms)
    with atomic_dir(out) as tmp:  # a partial dir from an interrupted run is replaced
        train_tokenizer(paths, tmp, vocab_size=cfg.tokenizer.vocab_size, sample_docs=cfg.tokenizer.sample_docs,
                        seed=cfg.tokenizer.seed, text_field=cfg.text_field)
    return out


def token_cache_path(cfg: AblateConfig, arm: str) -> Path:
    return Path(cfg.output) / "tokens" / f"{arm}.bin"


def build_token_caches(cfg: AblateConfig, tokenizer: str, progress: bool) -> None:
    """Tokenize each arm once (every point of the arm memory-maps the same file)."""
    from pipeline.student.data import build_token_cache
    from pipeline.student.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer)
    for arm in cfg.arms:
        cache = build_token_cache(cfg.arm_paths(arm), tok, token_cache_path(cfg, arm), cfg.text_field)
        _say(progress, f"arm {arm}: {cache.n_docs} documents, {cache.n_tokens} tokens")


def run_point(cfg_json: dict, point: dict, tokenizer: str) -> dict:
    """Train and evaluate one point (runs inside a Ray task, or in-process); writes and returns its row."""
    from pipeline.student.evaluate import evaluate
    from pipeline.student.train import TrainConfig, train

    cfg = AblateConfig.model_validate(cfg_json)
    out = point_dir(cfg, point)
    t0 = time.perf_counter()
    gpu = cfg.resources.gpus > 0
    tcfg = TrainConfig(
        data=cfg.arm_paths(point["arm"]), tokenizer=str(tokenizer), output=str(out), model=point["model"],
        token_cache=str(token_cache_path(cfg, point["arm"])),
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


def run_ablate(cfg: AblateConfig, ctx: RunContext | None = None) -> Path:
    """Run (or resume) the experiment; returns the output dir (runs.csv, fit/)."""
    from pipeline.student.data import resolve_paths

    ctx = ctx or RunContext()
    progress = ctx.progress
    out = Path(cfg.output)
    inputs = [f for spec in cfg.arms.values() if not isinstance(spec, ArmSpec) for f in resolve_paths(spec)]
    inputs += [f for group in (cfg.eval.text, cfg.eval.pairs, cfg.eval.choices) for f in resolve_paths(group.values())]
    prepare_output(out, "ablate", semantic_config(cfg, ("output", "resources", "runtime", "models", "tokens",
                                                        "seeds", "replicates", "fit", "vars")), inputs, ctx.overwrite)
    write_json_atomic(cfg.model_dump(mode="json"), out / "config.json")
    tokenizer = ensure_tokenizer(cfg)
    derived = materialize(cfg.arms, out, str(tokenizer), cfg.text_field, cfg.tokenizer.seed)
    if derived:
        write_json_atomic(derived, out / "arms.json")
    build_token_caches(cfg, str(tokenizer), progress)
    todo = [p for p in cfg.points() if not (point_dir(cfg, p) / POINT_FILE).exists()]
    todo.sort(key=lambda p: -point_cost(cfg, p))  # longest first: no long point left running alone at the end
    total = len(cfg.points())
    _say(progress, f"{total} points, {total - len(todo)} already done, {len(todo)} to run")
    failures = []
    done = total - len(todo)
    cfg_json = cfg.model_dump(mode="json")

    def finished(item: dict, row: dict) -> None:
        nonlocal done
        p = item["point"]
        if "error" not in row:
            done += 1
            _say(progress, f"{done}/{total} {p['arm']} {p['model']} D={p['tokens']} seed={p['seed']}: "
                           f"loss {row['loss']:.4f}, bpb {row['bpb']:.4f}, {row['wall_s']:.1f}s")
        else:  # keep the others running; report all failures at the end
            failures.append((p, row["error"]))
            _say(progress, f"FAILED {p}: {row['error']}")
        write_runs_csv(collect_rows(cfg), out / "runs.csv")

    _run_points(cfg, cfg_json, todo, str(tokenizer), ctx, finished)
    rows = collect_rows(cfg)
    write_runs_csv(rows, out / "runs.csv")
    if failures:
        lines = "; ".join(f"{p['arm']}/{p['model']}-D{p['tokens']}-s{p['seed']}: {e}" for p, e in failures)
        raise RuntimeError(f"{len(failures)} point(s) failed (finished ones are in {out / 'runs.csv'}; rerun to "
                           f"retry): {lines}")
    from pipeline.scaling.report import fit_runs

    fit_runs(out / "runs.csv", out / "fit", drop_highest=cfg.fit.drop_highest, bootstrap=cfg.fit.bootstrap,
             baseline=cfg.baseline, loss_column=cfg.fit.loss_column, seed=cfg.fit.seed, share=cfg.fit.share,
             repetition=cfg.fit.repetition, planted=cfg.planted() or None, progress=progress,
             target=cfg.fit.target, bootstrap_method=cfg.fit.bootstrap_method)
    _say(progress, f"report: {out / 'fit' / 'report.md'}")
    return out


def _run_points(cfg: AblateConfig, cfg_json: dict, todo: list[dict], tokenizer: str, ctx: RunContext,
                finished) -> None:
    """The points as tasks of the shared runner (`map_tasks`: a local pool, or Ray tasks with each point's CPUs and
    GPUs), under its no-progress watchdog (a training loop beats); `finished(item, row or {"error"})` as each
    ends."""
    if not todo:
        return
    env = RunEnv.start(cfg.runtime, ctx.address, progress=False)
    if not env.ray and cfg.resources.gpus:
        raise UserError("resources.gpus > 0 needs Ray to place points on GPUs: pass --executor ray or --address")
    items = [{"cfg": cfg_json, "point": p, "tokenizer": tokenizer,
              "name": f"{p['arm']}/{p['model']}-D{p['tokens']}-s{p['seed']}"} for p in todo]
    map_tasks(_point_task, items, env, cfg.resources, "ablate: points", on_result=finished)


def _point_task(item: dict) -> dict:
    """One point; a failure is its row's `error` (the other points keep running; all are reported at the end)."""
    try:
        return run_point(item["cfg"], item["point"], item["tokenizer"])
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def _say(enabled: bool, msg: str) -> None:
    if enabled:
        _log(msg, stage="ablate")


register(StageSpec(
    name="ablate", job=AblateConfig, run=run_ablate, inputs=None,
    help="Train students on every (arm, size, budget, seed) point (resumable), evaluate them, write runs.csv, then "
         "fit L(N,D) and write the report into OUTPUT/fit/.",
    output_help="Output directory (overrides the config's `output`): tokenizer/, runs/, runs.csv, fit/.",
    options=(Opt(("--var",), "vars", "NAME=VALUE for ${NAME} placeholders in the config (overrides its vars:); "
                                     "repeatable.", mapping=True, metavar="NAME=VALUE"),
             Opt(("--bootstrap",), "fit.bootstrap", "Bootstrap resamples of the final fit (overrides "
                                                    "fit.bootstrap).", int)),
))
