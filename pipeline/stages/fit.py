"""`assay fit`: fit L(N, D) per arm from a runs table and write the scaling report (`pipeline/scaling/`)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stage import Opt, RunContext, StageSpec, register


class FitJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: str = Field(..., description="runs table (CSV): params, tokens, the loss column; optional arm, flops")
    output: str = Field(..., description="output dir: fit.json, report.md, PNG/SVG plots")
    drop_highest: int = Field(0, ge=0, description="drop the K highest-loss points of each arm before fitting")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for the 95% intervals (0: none)")
    baseline: str | None = Field(None, description="arm the multipliers are measured against (default: the first)")
    loss_column: str = Field("loss", description="column to fit, e.g. loss, loss:heldout or bpb:heldout")
    seed: int = Field(0, description="seed of the bootstrap resampling")


def run_fit(job: FitJob, ctx: RunContext) -> dict:
    from pathlib import Path

    from pipeline.errors import UserError
    from pipeline.scaling.report import fit_runs

    try:
        res = fit_runs(Path(job.runs), Path(job.output), drop_highest=job.drop_highest, bootstrap=job.bootstrap,
                       baseline=job.baseline, loss_column=job.loss_column, seed=job.seed)
    except ValueError as e:  # the fitter's input checks name the file, column or arm
        raise UserError(str(e)) from None
    for arm, a in res["arms"].items():
        p = a["params"]
        print(f"{arm}: E={p['E']:.4g} A={p['A']:.4g} B={p['B']:.4g} alpha={p['alpha']:.3g} beta={p['beta']:.3g} "
              f"({a['n_points']} points, {len(a['warnings'])} warning(s))")
    print(f"report: {Path(job.output) / 'report.md'}")
    return res


register(StageSpec(
    name="fit", job=FitJob, run=run_fit, inputs="runs", single_input=True, inputs_metavar="RUNS.csv",
    inputs_help="Runs table (CSV) with columns params, tokens and the loss column; optional arm and flops (else 6ND).",
    help="Fit L(N, D) = E + A/N^alpha + B/D^beta per arm (Chinchilla Approach 3) and write the scaling report.",
    output_help="Output dir: fit.json, report.md, PNG/SVG plots.",
    options=(
        Opt(("--drop-highest",), "drop_highest", "Drop the K highest-loss points of each arm before fitting.", int),
        Opt(("--bootstrap",), "bootstrap", "Bootstrap resamples of points for the 95% intervals (0: none).", int),
        Opt(("--baseline",), "baseline", "Arm the compute multipliers are measured against (default: the first)."),
        Opt(("--loss-column",), "loss_column", "Column to fit, e.g. loss, loss:heldout or bpb:heldout."),
        Opt(("--seed",), "seed", "Seed of the bootstrap resampling.", int),
    ),
))
