"""Ray job: `python -m jobs.dedupe --config CFG` (the same typed config as `assay dedupe`; see `assay dedupe --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("dedupe"))
