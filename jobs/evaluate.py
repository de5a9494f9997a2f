"""Ray job: evaluate a student. `python -m jobs.evaluate --config CFG` with keys model_dir, output (JSONL), text,
pairs, choices (name -> path), batch_size, device."""
import json
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from jobs.entry import main
from pipeline.io import write_text_atomic


class EvaluateJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_dir: str
    output: str
    text: dict[str, str] = {}
    pairs: dict[str, str] = {}
    choices: dict[str, str] = {}
    batch_size: int = 16
    device: str = "auto"


def run(job: EvaluateJob, address, progress) -> None:
    from pipeline.student.evaluate import evaluate

    rows = evaluate(job.model_dir, text=job.text, pairs=job.pairs, choices=job.choices, batch_size=job.batch_size,
                    device=job.device)
    write_text_atomic("".join(json.dumps(r) + "\n" for r in rows), Path(job.output))


if __name__ == "__main__":
    sys.exit(main(EvaluateJob, run, __doc__))
