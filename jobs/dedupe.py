"""Ray job: the dedupe stage alone. `python -m jobs.dedupe --config CFG` (keys: inputs, output, dedupe: {...})."""
from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from filters.dedupe.config import DedupeConfig
from jobs.entry import main


class DedupeJob(BaseModel):
    """What `assay dedupe` and `jobs.dedupe` run."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Parquet document shards, directories or globs")
    output: str = Field(..., description="output dir: data/, rejects/, stats/, manifest.json")
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)


def run_job(job: DedupeJob, address: str | None = None, progress: bool = True) -> dict:
    from pipeline.dedupe_stage import run_dedupe

    return run_dedupe(job.inputs, Path(job.output), job.dedupe, address=address, progress=progress)


if __name__ == "__main__":
    sys.exit(main(DedupeJob, run_job, __doc__))
