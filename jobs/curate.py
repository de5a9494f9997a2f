"""Ray job: `python -m jobs.curate --config CFG` (the same typed config as `assay curate`; see `assay curate --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("curate"))
