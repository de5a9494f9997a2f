"""`assay evaluate`: score an exported student (loss and bits per byte on held-out text, minimal pairs, multiple
choice); one JSON row per (model, eval set, metric), to a file or stdout."""
from __future__ import annotations

import json
import sys

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.stage import Opt, RunContext, StageSpec, check_writable_parent, register


class EvaluateJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_dir: str = Field(..., description="exported model dir (a run's hf/)")
    output: str | None = Field(None, description="JSONL file for the rows (default: stdout)")
    text: dict[str, str] = Field(default_factory=dict, description="name -> held-out text (any reader input)")
    pairs: dict[str, str] = Field(default_factory=dict, description="name -> minimal-pairs JSONL")
    choices: dict[str, str] = Field(default_factory=dict, description="name -> multiple-choice JSONL")
    batch_size: int = Field(16, ge=1)
    device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    text_field: str = "text"

    @model_validator(mode="after")
    def _some(self):
        if not (self.text or self.pairs or self.choices):
            raise ValueError("give at least one --text, --pairs or --choices eval set")
        return self


def run_evaluate(job: EvaluateJob, ctx: RunContext) -> list[dict]:
    from pathlib import Path

    from pipeline.errors import UserError
    from pipeline.io import write_text_atomic
    from pipeline.student.evaluate import evaluate

    if not (Path(job.model_dir) / "config.json").is_file():
        raise UserError(f"{job.model_dir}: not an exported model dir (no config.json); give a run's hf/ folder")
    if job.output:
        check_writable_parent(job.output)
    rows = evaluate(job.model_dir, text=job.text, pairs=job.pairs, choices=job.choices, batch_size=job.batch_size,
                    device=job.device, text_field=job.text_field)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    if job.output:
        write_text_atomic(lines, job.output)
    sys.stdout.write(lines)
    return rows


register(StageSpec(
    name="evaluate", job=EvaluateJob, run=run_evaluate, inputs="model_dir", single_input=True,
    inputs_metavar="MODEL_DIR", inputs_help="Exported model dir (a run's hf/).",
    help="Score MODEL_DIR: one JSON row per (model, eval set, metric).",
    output_help="Write the rows as JSONL to this file (they are printed too).",
    options=(
        Opt(("--text",), "text", "NAME=PATH held-out text (any reader input): loss and bpb; repeatable.",
            mapping=True, metavar="NAME=PATH"),
        Opt(("--pairs",), "pairs", "NAME=PATH minimal-pairs JSONL (sentence_good/sentence_bad); repeatable.",
            mapping=True, metavar="NAME=PATH"),
        Opt(("--choices",), "choices", "NAME=PATH multiple-choice JSONL (context/choices/label); repeatable.",
            mapping=True, metavar="NAME=PATH"),
        Opt(("--batch-size",), "batch_size", "Sequences per forward pass.", int),
        Opt(("--device",), "device", "auto | cpu | cuda."),
        Opt(("--text-field",), "text_field", "Text column/field of the --text data."),
    ),
))
