"""Ray job: fit L(N,D) per arm and write the report. `python -m jobs.fit --config CFG` with keys runs, output,
drop_highest, bootstrap, baseline, loss_column, seed (as `assay fit`)."""
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from jobs.entry import main


class FitJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: str
    output: str
    drop_highest: int = Field(0, ge=0)
    bootstrap: int = Field(1000, ge=0)
    baseline: str | None = None
    loss_column: str = "loss"
    seed: int = 0


def run(job: FitJob, address, progress) -> None:
    from pipeline.scaling.report import fit_runs

    fit_runs(Path(job.runs), Path(job.output), drop_highest=job.drop_highest, bootstrap=job.bootstrap,
             baseline=job.baseline, loss_column=job.loss_column, seed=job.seed)


if __name__ == "__main__":
    sys.exit(main(FitJob, run, __doc__))
