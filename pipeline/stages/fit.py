"""`assay fit`: fit L(N, D) across the arms of a runs table and write the scaling report (`pipeline/scaling/`)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.config import TargetND
from pipeline.stage import Opt, RunContext, StageSpec, register


class FitJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: str = Field(..., description="runs table (CSV): params, tokens, the loss column; optional arm, flops, "
                                       "unique_tokens, epochs")
    output: str = Field(..., description="output dir: fit.json, report.md, PNG/SVG plots")
    drop_highest: int = Field(0, ge=0, description="drop the K highest-loss points of each arm before fitting")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for the 95% intervals (0: none)")
    baseline: str | None = Field(None, description="arm the multipliers are measured against (default: the first)")
    loss_column: str = Field("loss", description="column to fit, e.g. loss, loss:heldout or bpb:heldout")
    seed: int = Field(0, description="seed of the bootstrap resampling")
    share: list[str] = Field(["alpha", "beta", "E"], description="parameters common to all arms (any of alpha, "
                                                                 "beta, E, A; [] or none: every arm fitted alone; "
                                                                 "B is always per arm)")
    mode: Literal["joint", "per-arm"] = Field("joint", description="joint (share parameters) or per-arm")
    repetition: Literal["auto", "fit", "fixed", "off"] = Field(
        "auto", description="repetition-aware effective data (Muennighoff et al. 2023): fit R*, fix it, or off; "
                            "auto fits R* when enough runs repeat their pool")
    rstar: float = Field(15.4, gt=0, description="R* when fixed (published: 15.4)")
    compare: bool = Field(True, description="compare the shared and the free model (leave-one-out, AIC/BIC)")
    target: TargetND = Field(None, description="model size and token budget [N, D] (or \"N,D\") to "
                                                         "predict every arm's loss at, with the probability of each "
                                                         "pairwise order there")
    bootstrap_method: Literal["parametric", "points"] = Field(
        "parametric", description="parametric: every run simulated from the fit with the measured run-to-run noise "
                                  "(default); points: runs resampled within each arm")
    check_replicates: int = Field(200, ge=0, description="simulated data sets for the held-out check's spread")
    strict: bool = Field(True, description="refuse runs that cannot determine the model (one-line reason)")

    @field_validator("share", mode="before")
    @classmethod
    def _split(cls, v):
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        return [] if [str(x).lower() for x in v] == ["none"] else v


def run_fit(job: FitJob, ctx: RunContext) -> dict:
    from pathlib import Path

    from pipeline.errors import UserError
    from pipeline.scaling.report import fit_runs

    if job.mode == "per-arm" and job.share not in ([], ["alpha", "beta", "E"]):
        raise UserError(f"--mode per-arm fits every arm alone; it cannot share {','.join(job.share)} (drop --share "
                        "or use --mode joint)")
    try:
        res = fit_runs(Path(job.runs), Path(job.output), drop_highest=job.drop_highest, bootstrap=job.bootstrap,
                       baseline=job.baseline, loss_column=job.loss_column, seed=job.seed,
                       share=job.share if job.mode == "joint" else [], mode=job.mode, repetition=job.repetition,
                       rstar=job.rstar, strict=job.strict, compare=job.compare, progress=ctx.progress,
                       target=job.target, bootstrap_method=job.bootstrap_method,
                       check_replicates=job.check_replicates)
    except ValueError as e:  # the fitter's input checks name the file, column or arm
        raise UserError(str(e)) from None
    for arm, a in res["arms"].items():
        p = a["params"]
        dm = a.get("data_multiplier") or {}
        extra = ""
        if arm != res["baseline"] and dm.get("value") is not None:
            extra = f"; data multiplier vs {res['baseline']}: {dm['value']:.3g}"
            if dm.get("ci_low") is not None:
                extra += f" (95% {dm['ci_low']:.3g}-{dm['ci_high']:.3g})"
        print(f"{arm}: E={p['E']:.4g} A={p['A']:.4g} B={p['B']:.4g} alpha={p['alpha']:.3g} beta={p['beta']:.3g} "
              f"({a['n_points']} points, {len(a['warnings'])} warning(s)){extra}")
    cmp = res.get("model_comparison")
    if cmp and cmp.get("verdict"):
        print(f"model comparison: {cmp['verdict']}")
    for line in res.get("answer", []):
        print(f"answer: {line}")
    for line in res.get("not_in_answer", []):
        print(f"not in the answer: {line}")
    print(f"report: {Path(job.output) / 'report.md'}")
    return res


register(StageSpec(
    name="fit", job=FitJob, run=run_fit, inputs="runs", single_input=True, inputs_metavar="RUNS.csv",
    inputs_help="Runs table (CSV) with columns params, tokens and the loss column; optional arm, flops (else 6ND), "
                "unique_tokens (the arm's pool) or epochs.",
    help="Fit L(N, D) = E + A/N^alpha + B/D^beta across arms (joint, shared exponents and E by default; or per "
         "arm, Chinchilla Approach 3), check the form against the runs, and report data multipliers, pairwise "
         "decisions and a ranking, predictions at a target scale, repetition-aware effective data and crossovers.",
    output_help="Output dir: fit.json, report.md, PNG/SVG plots.",
    options=(
        Opt(("--share",), "share", "Parameters common to all arms: any of alpha,beta,E,A (comma-separated), or none "
                                   "to fit every arm alone. Default: alpha,beta,E.", split=True),
        Opt(("--mode",), "mode", "joint (default) or per-arm (every arm its own Approach 3 fit; = --share none)."),
        Opt(("--repetition",), "repetition", "auto (default: fit R* when enough runs repeat their pool, else "
                                             "fixed), fit, fixed or off."),
        Opt(("--rstar",), "rstar", "R* when fixed (default 15.4, Muennighoff et al. 2023).", float),
        Opt(("--no-compare",), "compare", "Skip the shared-vs-free model comparison.", flag=True, value=False),
        Opt(("--force",), "strict", "Fit even runs that cannot determine the model (the report leads with the "
                                    "reason).", flag=True, value=False),
        Opt(("--drop-highest",), "drop_highest", "Drop the K highest-loss points of each arm before fitting.", int),
        Opt(("--bootstrap",), "bootstrap", "Bootstrap replicates for the 95% intervals (0: none).", int),
        Opt(("--baseline",), "baseline", "Arm the multipliers are measured against (default: the first)."),
        Opt(("--loss-column",), "loss_column", "Column to fit, e.g. loss, loss:heldout or bpb:heldout."),
        Opt(("--seed",), "seed", "Seed of the bootstrap resampling.", int),
        Opt(("--target",), "target", "N,D: predict every arm's loss at model size N and token budget D (e.g. "
                                     "1e9,2e10), with 95% intervals and the probability of each pairwise order.",
            metavar="N,D"),
        Opt(("--bootstrap-method",), "bootstrap_method", "parametric (default: runs simulated with the measured "
                                                         "noise) or points (runs resampled within each arm)."),
    ),
))
