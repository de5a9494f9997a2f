"""Ray job: `python -m jobs.generate --config CFG` (as `assay generate`; `ray job submit ... -- python -m jobs.generate
--config CFG` with `generate.teacher.kind: vllm-ray` and a GPU cluster for the main path)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("generate"))
